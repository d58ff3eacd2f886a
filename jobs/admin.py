"""Django admin: a changelist of the dead letters kept in Redis, and the audit log."""
from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.http import urlencode
from django_dramatiq.models import Task

from . import actions, broker_store
from .models import AuditEntry, FailedMessage
from .views import dead_listing

ADMIN_ACTIONS = {"requeue_selected": ("requeue", "Requeue selected failed messages"),
                 "delete_selected": ("delete", "Delete selected failed messages")}


@admin.register(FailedMessage)
class FailedMessageAdmin(admin.ModelAdmin):
    """Search (by message id), filters (queue, actor, exception), pagination and the
    actions "Requeue selected" / "Delete selected" over `<ns>:<queue>.XQ`."""

    list_per_page = 50

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
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._run_action(request)
        listing = dead_listing(request.GET, self.list_per_page)
        filters, page = listing["filters"], listing["page"]
        search = request.GET.get("q", "").strip()
        if search:
            found = [m for q in listing["queue_names"]
                     if (hit := broker_store.find_message(q, search)) and hit[0] == "dead"
                     for m in [broker_store.get_dead(hit[1].ref)] if m]
            page = broker_store.DeadPage(found, None, None, len(found))
        query = {k: v for k, v in filters.items() if v}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "title": "Failed messages", "page": page, "filters": filters, "search": search,
            "query": urlencode(query),
            "filter_choices": [
                ("queue", "By queue", listing["queue_names"]),
                ("actor", "By actor", listing["actor_names"]),
                ("exception", "By exception type", listing["exception_names"]),
            ],
            "filter_links": {k: urlencode({q: v for q, v in query.items() if q != k}) for k in filters},
            "actions": [(key, label) for key, (_, label) in ADMIN_ACTIONS.items()],
            "can_manage": self.has_change_permission(request),
        }
        return TemplateResponse(request, "admin/jobs/failedmessage/change_list.html", context)

    def _run_action(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        back = request.get_full_path()
        action = ADMIN_ACTIONS.get(request.POST.get("action", ""))
        refs = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        if action is None or not refs:
            self.message_user(request, "Choose an action and select at least one message.", messages.WARNING)
            return HttpResponseRedirect(back)
        if not actions.valid_refs(refs):
            self.message_user(request, "Malformed message reference.", messages.ERROR)
            return HttpResponseRedirect(back)
        if request.POST.get("post") != "yes":
            return TemplateResponse(request, "admin/jobs/failedmessage/confirm_action.html", {
                **self.admin_site.each_context(request), "opts": self.opts, "title": "Are you sure?",
                "action": request.POST["action"], "verb": action[0], "refs": refs,
                "checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            })
        entry = actions.perform(request.user, action[0], "selected", refs=refs)
        self.message_user(request, actions.outcome_text(entry), messages.SUCCESS if entry.count else messages.WARNING)
        return HttpResponseRedirect(back)


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
