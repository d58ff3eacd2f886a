"""Django admin: one section, "Background jobs": "Failed messages" (the console's dead-letter list in the
admin's page), and the records the job system keeps, read-only: audit entries, bulk actions, health alerts."""

from __future__ import annotations

from datetime import datetime

from django.contrib import admin
from django.http import HttpRequest
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django_dramatiq.models import Task

from . import actions, views
from .masking import mask_address, mask_error
from .models import AuditEntry, BulkAction, FailedMessage, HealthAlert, OutboxEmail
from .templatetags.dramaturg_tags import when


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record the job system writes: viewed, never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj) -> SafeString | str:
        """The time with its zone and how long ago ("2026-11-25 16:20:01 KST · 3 min ago")."""
        moment: datetime = obj.created_at
        return when(moment)


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


def _queues(entry: AuditEntry) -> list[str]:
    """The queues an entry touched: its filter's queue, else the queues of the messages it handled."""
    if entry.filters.get("queue"):
        return [entry.filters["queue"]]
    return sorted({ref.partition("/")[0] for ref in entry.refs.split() if "/" in ref})


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Who did what to which queue and messages: the operators' record, never edited."""

    list_display = ("created", "user_email", "action", "scope", "queue", "messages", "requested", "count")
    list_filter = ("action", "scope")
    search_fields = ("user_email", "refs", "filters")
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    @admin.display(description=_("queue"))
    def queue(self, entry: AuditEntry) -> str:
        return ", ".join(_queues(entry)) or "–"

    @admin.display(description=_("messages"))
    def messages(self, entry: AuditEntry) -> SafeString | str:
        """The first messages it handled (queue/id), or the filter that chose them."""
        refs = entry.refs.split()
        if refs:
            shown = format_html_join(" ", "<code>{}</code>", ((ref,) for ref in refs[:3]))
            more = len(refs) - 3
            return format_html("{} +{}", shown, more) if more > 0 else shown
        chosen = {k: v for k, v in entry.filters.items() if k != "queue"}
        return ", ".join(f"{k}={v}" for k, v in chosen.items()) or "–"


@admin.register(BulkAction)
class BulkActionAdmin(ReadOnlyAdmin):
    list_display = ("created", "user_email", "action", "status", "total", "requested", "count")
    list_filter = ("action", "status")
    readonly_fields = [f.name for f in BulkAction._meta.fields]


@admin.register(HealthAlert)
class HealthAlertAdmin(ReadOnlyAdmin):
    """Every FAILING / RECOVERED mail to ADMINS: what changed, when, and whether it went out."""

    list_display = (
        "created",
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


@admin.register(OutboxEmail)
class OutboxEmailAdmin(ReadOnlyAdmin):
    """The outbox emails, read-only, recipients masked (the console's Emails page requeues and cancels)."""

    list_display = ("created", "recipients", "subject", "status", "attempts", "sent_at", "error")
    list_filter = ("status", "failure", "mailer")
    search_fields = ("subject",)
    fields = ("created_at", "recipients", "subject", "mailer", "status", "failure", "attempts", "sent_at", "error")
    readonly_fields = fields

    @admin.display(description=_("last error"))
    def error(self, email: OutboxEmail) -> str:
        return mask_error(email.last_error)

    @admin.display(description=_("to"))
    def recipients(self, email: OutboxEmail) -> str:
        return ", ".join(mask_address(a) for a in [*email.to, *email.cc, *email.bcc])
