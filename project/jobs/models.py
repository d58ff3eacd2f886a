from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Who requeued or deleted which dead letters, when."""

    class Action(models.TextChoices):
        REQUEUE = "requeue", "Requeue"
        DELETE = "delete", "Delete"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    user_email = models.CharField(max_length=254, blank=True)  # kept if the user is deleted
    action = models.CharField(max_length=16, choices=Action.choices)
    scope = models.CharField(max_length=16)  # one / selected / matching
    filters = models.JSONField(default=dict, blank=True)
    requested = models.PositiveIntegerField(default=0)
    count = models.PositiveIntegerField(default=0)  # how many this action actually handled
    refs = models.TextField(blank=True)  # the first references handled, one per line

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "audit entries"
        permissions = [("manage_dead_letters", "Can requeue or delete dead-lettered messages")]

    def __str__(self) -> str:
        return f"{self.user_email} {self.action} {self.count} ({self.scope})"


class FailedMessage(models.Model):
    """No table: gives the Django admin an entry for the dead letters kept in Redis."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "failed message"
