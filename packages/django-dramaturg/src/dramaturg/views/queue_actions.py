"""An operator's actions on a queue's messages: delete ready ones, clear the queue (each confirmed and audited)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_POST

from .. import actions, actors, conf
from ..decorators import staff_required
from ..models import AuditEntry
from ..store import queues
from ..store.filters import MessageFilter
from ._action_flow import confirm_then_perform, confirm_then_record, parse_action
from ._params import safe_next


@require_POST
@staff_required
@permission_required(actions.QUEUE_PERMISSION, raise_exception=True)
def ready_action(request: HttpRequest) -> HttpResponse:
    """Delete one or the selected ready messages: a confirmation page first, then the action."""
    form = parse_action(request, actions.READY_ACTIONS, reverse("dramaturg:overview"))
    if isinstance(form, HttpResponse):
        return form
    return confirm_then_perform(request, form, MessageFilter.from_params(request.POST), len(form.refs))


@require_POST
@staff_required
@permission_required(actions.QUEUE_PERMISSION, raise_exception=True)
def queue_clear(request: HttpRequest, queue: str) -> HttpResponse:
    """Drop every ready message of a queue, after a confirmation page that says how many; audited. More than
    CONSOLE.BULK_INLINE_MAX of them are dropped by a bulk job, whose progress page the operator is sent to
    (except on the bulk job's own queue, where the job would wait behind them: cleared in the request)."""
    next_url = safe_next(request, reverse("dramaturg:queue", args=[queue]))
    if queue not in queues.queue_names():
        messages.error(request, gettext("Unknown queue or action."))
        return redirect(next_url)
    ready = queues.queue_counts(queue).ready
    texts = {
        "title": gettext("Clear queue %(queue)s?") % {"queue": queue},
        "covers": ngettext(
            "Its %(counter)s ready message (and any that arrives before you confirm).",
            "Its %(counter)s ready messages (and any that arrive before you confirm).",
            ready,
        )
        % {"counter": ready},
        "effect": gettext(
            "They are deleted and never run; running, delayed and dead messages stay. This cannot be undone."
        ),
        "confirm_label": gettext("Yes, clear the queue"),
    }
    # Too many to clear within a request: a job clears them, unless it would wait behind them on this very queue.
    if ready > conf.settings.CONSOLE.BULK_INLINE_MAX and queue != actors.run_bulk_action.queue_name:
        if request.POST.get("confirm") == "yes":
            job = actors.start_bulk_action(request.user, AuditEntry.Action.CLEAR, {"queue": queue}, ready)
            return redirect("dramaturg:bulk", job.pk)
        texts["effect"] += " " + gettext("This runs as a background job; a page shows its progress.")
    return confirm_then_record(
        request,
        op="clear",
        texts=texts,
        danger=True,
        next_url=next_url,
        perform=lambda: actions.clear_queue(request.user, queue),
    )
