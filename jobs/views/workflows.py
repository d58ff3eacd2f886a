"""A report run as a workflow."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_safe

from reports.models import Report

from .. import workflows
from ..decorators import staff_required


@require_safe
@staff_required
def report_workflow(request: HttpRequest, report_id: int) -> HttpResponse:
    """A report run as a workflow: chunks done of total, each chunk's state, retries, dead letters."""
    report = Report.objects.filter(pk=report_id).first()
    if report is None:
        messages.error(request, gettext("No such report."))
        return redirect("jobs:overview")
    run = workflows.report_run(report)
    return render(request, "jobs/workflow.html", {"run": run, "report": report})
