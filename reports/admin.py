from django.contrib import admin, messages

from .models import Report
from .tasks import request_report


def format_duration(seconds: float | None) -> str:
    """60.209452 -> "1 min 0.2 s"; 0.8412 -> "0.84 s"; 7384 -> "2 h 3 min"; None -> "-"."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)} min {rest:.1f} s"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60} min"


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

    @admin.display(description="duration", ordering="duration_s")
    def duration(self, report: Report) -> str:
        return format_duration(report.duration_s)

    @admin.action(description="Run again (recompute the selected reports)")
    def run_again(self, request, queryset) -> None:
        started = sum(request_report(r.kind, r.period_start, force=True)[1] for r in queryset)
        self.message_user(request, f"{started} report(s) enqueued again.", messages.SUCCESS)
