from django.contrib import admin, messages

from .models import Report
from .tasks import request_report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("kind", "period_start", "status", "chunks_done", "chunks_total", "duration_s", "finished_at")
    list_filter = ("kind", "status")
    date_hierarchy = "period_start"
    readonly_fields = [f.name for f in Report._meta.fields if f.name not in ("kind", "period_start")]
    actions = ["run_again"]

    @admin.action(description="Run again (recompute the selected reports)")
    def run_again(self, request, queryset) -> None:
        started = sum(request_report(r.kind, r.period_start, force=True)[1] for r in queryset)
        self.message_user(request, f"{started} report(s) enqueued again.", messages.SUCCESS)
