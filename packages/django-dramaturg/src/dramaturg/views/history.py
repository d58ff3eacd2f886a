"""History: per-actor and per-queue daily figures over the last 90 days (store.actor_metrics.days)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import dramatiq
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from ..charts import duration_label, sparkline
from ..decorators import staff_required
from ..store import actor_metrics
from ..store.actor_metrics import ActorCounts
from ._params import int_param


def _row(name: str, series: list[ActorCounts]) -> dict[str, Any]:
    total = ActorCounts()
    for counts in series:
        total.add(counts)
    ran = total.processed + total.failed
    return {
        "name": name,
        "total": total,
        "mean": duration_label(total.runtime_sum_ms / ran if ran else None),
        "sparkline": sparkline([c.processed + c.failed for c in series]),
    }


@require_safe
@staff_required
def history(request: HttpRequest) -> HttpResponse:
    """Daily processed, failed, retried and dead counts per actor and per queue (an actor's queue is the one
    it is declared on), over the last `days` (at most 90); `actor` or `queue` narrows the daily table."""
    n = min(int_param(request, "days", actor_metrics.DAY_KEEP_DAYS) or 30, actor_metrics.DAY_KEEP_DAYS)
    actor, queue = request.GET.get("actor", "").strip(), request.GET.get("queue", "").strip()
    days = actor_metrics.days(n)
    queue_of = {a.actor_name: a.queue_name for a in dramatiq.get_broker().actors.values()}
    by_actor: dict[str, list[ActorCounts]] = defaultdict(lambda: [ActorCounts() for _ in days])
    by_queue: dict[str, list[ActorCounts]] = defaultdict(lambda: [ActorCounts() for _ in days])
    chosen = [ActorCounts() for _ in days]
    for i, (_, counts) in enumerate(days):
        for name, c in counts.items():
            by_actor[name][i].add(c)
            by_queue[queue_of.get(name, "?")][i].add(c)
            if (not actor or name == actor) and (not queue or queue_of.get(name, "?") == queue):
                chosen[i].add(c)
    return render(
        request,
        "dramaturg/history.html",
        {
            "days_shown": n,
            "keep_days": actor_metrics.DAY_KEEP_DAYS,
            "actor": actor,
            "queue": queue,
            "actors": sorted((_row(name, s) for name, s in by_actor.items()), key=lambda r: -r["total"].processed),
            "queues": sorted((_row(name, s) for name, s in by_queue.items()), key=lambda r: -r["total"].processed),
            "daily": [(day, c) for (day, _), c in reversed(list(zip(days, chosen, strict=True)))],
        },
    )
