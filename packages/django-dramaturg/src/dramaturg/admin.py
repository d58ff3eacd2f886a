"""Django admin: "Failed messages" is the dashboard's dead-letter list, mounted in the admin; and the audit log."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django_dramatiq.models import Task

from . import actions, views
from .masking import mask_address
from .models import AuditEntry, BulkAction, FailedMessage, HealthAlert, OutboxEmail


@admin.register(FailedMessage)
class FailedMessageAdmin(admin.ModelAdmin):
    """The dead letters kept in Redis. There is one dead-letter UI: the changelist URL
    serves the dashboard's list view (through `admin_view`: admin login, CSRF, never
    cached), whose forms use the dashboard's one confirmation page and action."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(actions.PERMISSION)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(actions.PERMISSION)

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(views.dead_list), name=name)]


# django-dramatiq's Task table stays empty here (its AdminMiddleware, a DB write per
# message, is not installed); the failed messages above are the view of record.
if admin.site.is_registered(Task):
    admin.site.unregister(Task)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user_email", "action", "scope", "requested", "count")
    list_filter = ("action", "scope")
    search_fields = ("user_email", "refs")
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(BulkAction)
class BulkActionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user_email", "action", "status", "total", "requested", "count")
    list_filter = ("action", "status")
    readonly_fields = [f.name for f in BulkAction._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(HealthAlert)
class HealthAlertAdmin(admin.ModelAdmin):
    """Every FAILING / RECOVERED mail to ADMINS: what changed, when, and whether it went out."""

    list_display = (
        "created_at",
        "state",
        "check_name",
        "subject",
        "message",
        "status",
        "sent_at",
        "attempts",
        "last_error",
    )
    list_filter = ("state", "status", "failure", "check_name")
    search_fields = ("check_name", "subject", "message")
    readonly_fields = [f.name for f in HealthAlert._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    """The outbox emails, read-only, recipients masked (the console's Emails page requeues and cancels)."""

    list_display = ("created_at", "recipients", "subject", "status", "attempts", "sent_at", "last_error")
    list_filter = ("status", "failure", "mailer")
    search_fields = ("subject",)
    fields = ("created_at", "recipients", "subject", "mailer", "status", "failure", "attempts", "sent_at", "last_error")
    readonly_fields = fields

    @admin.display(description=_("to"))
    def recipients(self, email: OutboxEmail) -> str:
        return ", ".join(mask_address(a) for a in [*email.to, *email.cc, *email.bcc])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
