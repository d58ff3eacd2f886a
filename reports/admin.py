from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .models import Report
from .tasks import request_report


def format_duration(seconds: float | None) -> str:
    """60.209452 -> "1 min 0.2 s"; 0.8412 -> "0.84 s"; 7384 -> "2 h 3 min"; None -> "-" (in the active language)."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return _("%(seconds).2f s") % {"seconds": seconds}
    if seconds < 60:
        return _("%(seconds).1f s") % {"seconds": seconds}
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return _("%(minutes)d min %(seconds).1f s") % {"minutes": minutes, "seconds": rest}
    hours, rest = divmod(round(seconds), 3600)
    return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": rest // 60}


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("kind", "period_start", "status", "chunks_done", "chunks_total", "duration", "finished_at")
    list_filter = ("kind", "status")
    date_hierarchy = "period_start"
    readonly_fields = [
        f.name if f.name != "duration_s" else "duration"
        for f in Report._meta.fields
        if f.name not in ("kind", "period_start")
    ]
    actions = ["run_again"]

    @admin.display(description=gettext_lazy("duration"), ordering="duration_s")
    def duration(self, report: Report) -> str:
        return format_duration(report.duration_s)

    @admin.action(description=gettext_lazy("Run again (recompute the selected reports)"))
    def run_again(self, request, queryset) -> None:
        started = sum(request_report(r.kind, r.period_start, force=True)[1] for r in queryset)
        message = ngettext("%(count)d report enqueued again.", "%(count)d reports enqueued again.", started) % {
            "count": started
        }
        self.message_user(request, message, messages.SUCCESS)
