"""A bulk action run as a job: its progress page and JSON."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_safe

from .. import actions
from ..decorators import staff_required
from ..models import BulkAction


@require_safe
@staff_required
def bulk_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = BulkAction.objects.filter(pk=pk).first()
    if job is None:
        messages.error(request, gettext("No such bulk action."))
        return redirect("dramaturg:overview")
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "id": job.pk,
                "status": job.status,
                "total": job.total,
                "requested": job.requested,
                "count": job.count,
                "percent": job.percent,
                "error": job.error,
                "outcome": actions.outcome_text(job.audit) if job.audit else "",
            }
        )
    return render(request, "dramaturg/bulk.html", {"job": job, "verb": actions.VERBS.get(job.action, job.action)})
