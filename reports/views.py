from __future__ import annotations

import csv
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from dramaturg.charts import bar_chart
from dramaturg.decorators import staff_required

from . import workflow
from .metrics import delay_distribution
from .models import Report


@staff_required
def report_list(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/list.html", {"reports": Report.objects.all()[:200]})


def _charts(result: dict) -> dict:
    """The report's bar charts; units and axis titles in the active language."""
    hours = [f"{h:02d}" for h in range(24)]
    hour_axis = _("hour of the day (%(zone)s)") % {"zone": settings.TIME_ZONE}
    signups, logins, emails = _("signups"), _("logins"), _("emails")
    charts = {
        "signups": bar_chart(
            list(zip(hours, ((n,) for n in result["signups_by_hour"]), strict=True)),
            [(signups, "ok")],
            unit=signups,
            x_title=hour_axis,
        ),
        "logins": bar_chart(
            list(zip(hours, ((n,) for n in result["logins_by_hour"]), strict=True)),
            [(logins, "ok")],
            unit=logins,
            x_title=hour_axis,
        ),
        "delays": bar_chart(
            [(label, (n,)) for label, n in delay_distribution(result["delay_histogram"])],
            [(emails, "ok")],
            unit=emails,
            x_title=_("seconds from signup to welcome email"),
        ),
    }
    if "days" in result:
        charts["days"] = bar_chart(
            [(d["day"], (d["signups"],)) for d in result["days"]],
            [(signups, "ok")],
            width=480,
            unit=signups,
            x_title=_("day"),
        )
    return charts


def _seconds(value: int | None) -> str:
    """Whole seconds for the delay table, or a dash when no email was sent."""
    return "–" if value is None else _("%(seconds)d s") % {"seconds": value}


@staff_required
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(Report, pk=pk)
    context: dict[str, Any] = {"report": report}
    result = report.result
    if report.status == Report.Status.DONE and result:
        context.update(
            charts=_charts(result),
            result=result,
            delay_rows=delay_distribution(result["delay_histogram"]),
            delay_figures=[_seconds(result["email_delay"][key]) for key in ("median", "p95", "max")],
            hour_rows=list(zip(range(24), result["signups_by_hour"], result["logins_by_hour"], strict=True)),
        )
    return render(request, "reports/detail.html", context)


def report_rows(report: Report) -> list[tuple[str, object]]:
    """The CSV's rows. Metric names stay English in every language: scripts read them."""
    r = report.result or {}
    rows = [
        ("kind", report.kind),
        ("period_start", report.period_start.isoformat()),
        ("signups", r["signups"]),
        ("emails_sent", r["emails"]["sent"]),
        ("emails_failed", r["emails"]["failed"]),
        ("emails_pending", r["emails"]["pending"]),
        ("email_delay_median_s", r["email_delay"]["median"]),
        ("email_delay_p95_s", r["email_delay"]["p95"]),
        ("email_delay_max_s", r["email_delay"]["max"]),
        ("logins", r["logins"]),
        ("active_users", r["active_users"]),
        ("retention_cohort", r["retention"]["cohort"]),
        ("retention_retained", r["retention"]["retained"]),
        ("retention_rate", r["retention"]["rate"]),
    ]
    rows += [(f"signups_hour_{h:02d}", n) for h, n in enumerate(r["signups_by_hour"])]
    rows += [(f"logins_hour_{h:02d}", n) for h, n in enumerate(r["logins_by_hour"])]
    return rows


@staff_required
def report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(Report, pk=pk, status=Report.Status.DONE)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{report.kind}-{report.period_start}.csv"'
    writer = csv.writer(response)
    writer.writerow(["metric", "value"])
    writer.writerows(report_rows(report))
    return response


@require_safe
@staff_required
def report_workflow(request: HttpRequest, pk: int) -> HttpResponse:
    """A report's current run as a workflow: chunks done of total, each chunk's state, retries, dead letters."""
    report = get_object_or_404(Report, pk=pk)
    return render(request, "reports/workflow.html", {"run": workflow.report_run(report), "report": report})
