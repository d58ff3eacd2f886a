"""The workers: each one's threads and what each thread runs now, and a graceful "stop taking work"
(and "take work again") for one worker, confirmed and audited."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from dramaturg import conf

from .. import actions
from ..decorators import staff_required
from ..models import AuditEntry
from ..store import control, stats
from ._action_flow import confirm_then_record
from ._params import safe_next


@require_safe
@staff_required
def worker_list(request: HttpRequest) -> HttpResponse:
    """Every registered worker: host, pid, version, queues, threads (busy of all), each running job with
    its thread, and whether it was told to stop taking work."""
    return render(
        request,
        "dramaturg/workers.html",
        {
            "workers": stats.workers(conf.heartbeat_timeout_ms()),
            "quiet": control.quiet_workers(),
            "can_manage": request.user.has_perm(actions.QUEUE_PERMISSION),
        },
    )


def _texts(op: str, worker_id: str) -> dict[str, str]:
    values = {"worker": worker_id}
    if op == AuditEntry.Action.QUIET_WORKER:
        return {
            "title": gettext("Stop worker %(worker)s taking work?") % values,
            "covers": gettext("Every queue this worker consumes, until you let it take work again."),
            "effect": gettext(
                "It fetches no more messages within about a second; the jobs it runs or holds finish. "
                "Other workers take the rest."
            ),
            "confirm_label": gettext("Yes, stop taking work"),
        }
    return {
        "title": gettext("Let worker %(worker)s take work again?") % values,
        "covers": gettext("Every queue this worker consumes."),
        "effect": gettext("It fetches messages again within about a second."),
        "confirm_label": gettext("Yes, take work again"),
    }


@require_POST
@staff_required
@permission_required(actions.QUEUE_PERMISSION, raise_exception=True)
def worker_action(request: HttpRequest, worker_id: str) -> HttpResponse:
    """Stop one worker taking work, or let it take work again: a confirmation page, then the action."""
    op = request.POST.get("op", "")
    next_url = safe_next(request, reverse("dramaturg:workers"))
    known = {w.worker_id for w in stats.workers(conf.heartbeat_timeout_ms()) if w.alive}
    if op not in actions.WORKER_ACTIONS or worker_id not in known:
        messages.error(request, gettext("Unknown worker or action."))
        return redirect(next_url)
    return confirm_then_record(
        request,
        op=op,
        texts=_texts(op, worker_id),
        danger=op == AuditEntry.Action.QUIET_WORKER,
        next_url=next_url,
        perform=lambda: actions.worker_action(request.user, op, worker_id),
    )
