"""Any message by id: where it is now or how it finished, its arguments (masked), its attempts and
their errors, and what an operator may do with it in its state. One id per message: its Dramatiq
message id, in the URL and the title."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from dramaturg import conf

from .. import actions
from ..decorators import staff_required
from ..masking import pretty
from ..store import lookup, queues, stats
from .dead_letters import bounded

_NOT_SHOWN = ("traceback", "redis_message_id")  # the traceback has its own block


@require_safe
@staff_required
def message_lookup(request: HttpRequest, message_id: str = "") -> HttpResponse:
    """Where is message X: running (on which worker, since when), ready, delayed, retrying, dead, or
    finished recently (outcome and duration); its arguments, failed attempts and the actions of its state.
    `/jobs/messages/<id>/` is its page; `/jobs/messages/?id=<id>` (the header's look-up) shows the same."""
    message_id = (message_id or request.GET.get("id", "")).strip()
    context: dict = {
        "message_id": message_id,
        "sightings": [],
        "recent_limit": conf.settings.CONSOLE.RECENT_LIMIT,
        "recent_hours": conf.settings.CONSOLE.RECENT_MAX_AGE_S // 3600,
    }
    if message_id:
        workers = stats.workers(conf.heartbeat_timeout_ms())
        found = lookup.detail(
            message_id,
            queues.queue_names(),
            [w.worker_id for w in workers if w.alive],
            recent_max_age_ms=conf.settings.CONSOLE.RECENT_MAX_AGE_S * 1000,
        )
        message = found.message
        context.update(
            message_id=found.message_id,
            sightings=found.sightings,
            state=found.state,
            message=message,
            attempts=found.failed_attempts,
            # the broker's own id of the stored body stays in the forms: the page shows one id
            options={k: v for k, v in message.options.items() if k not in _NOT_SHOWN} if message is not None else {},
            last_error=message.last_error if message is not None else "",
            args=bounded(pretty(message.args)) if message is not None else None,
            kwargs=bounded(pretty(message.kwargs)) if message is not None and message.kwargs else None,
            can_manage_dead=request.user.has_perm(actions.PERMISSION),
            can_manage_queues=request.user.has_perm(actions.QUEUE_PERMISSION),
        )
    return render(request, "dramaturg/message.html", context)
