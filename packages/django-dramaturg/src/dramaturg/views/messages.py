"""Any message by id: where it is now, or how it finished."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from dramaturg import conf

from ..decorators import staff_required
from ..store import lookup, queues, stats


@require_safe
@staff_required
def message_lookup(request: HttpRequest) -> HttpResponse:
    """Where is message X: running (on which worker, since when), ready, delayed, retrying, dead, or
    finished recently (outcome and duration)."""
    message_id = request.GET.get("id", "").strip()
    sightings = []
    if message_id:
        workers = stats.workers(conf.heartbeat_timeout_ms())
        sightings = lookup.locate(
            message_id,
            queues.queue_names(),
            [w.worker_id for w in workers if w.alive],
            recent_max_age_ms=conf.settings.CONSOLE.RECENT_MAX_AGE_S * 1000,
        )
    return render(
        request,
        "dramaturg/message.html",
        {
            "message_id": message_id,
            "sightings": sightings,
            "recent_limit": conf.settings.CONSOLE.RECENT_LIMIT,
            "recent_hours": conf.settings.CONSOLE.RECENT_MAX_AGE_S // 3600,
        },
    )
