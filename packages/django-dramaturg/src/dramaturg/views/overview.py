"""The overview (live counts, throughput, workers), its JSON, one queue's page, and pause/resume."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import dramatiq
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from dramaturg import conf

from .. import actions, monitoring
from ..charts import throughput_chart
from ..decorators import staff_required, token_or_staff
from ..params import MAX_PAGE, MAX_REDIS_CURSOR
from ..store import queues, stats
from ._params import PAGE_SIZE, int_param, safe_next


def overview_data() -> dict[str, Any]:
    workers = stats.workers(conf.heartbeat_timeout_ms())
    return {
        "queues": monitoring.queue_states(workers),
        "totals": stats.totals(),
        "throughput": stats.throughput(60),
        "workers": workers,
    }


def _queue_links(names: list[str]) -> dict[str, dict[str, str]]:
    """The links of each queue's row, from three reversed prefixes: one `reverse()` per row and
    link costs milliseconds with 100 queues (the overview renders every 3 s)."""
    queue_url = reverse("dramaturg:queue", args=["QUEUE"]).replace("QUEUE", "{}")
    pause_url = reverse("dramaturg:queue_pause", args=["QUEUE"]).replace("QUEUE", "{}")
    retries, dead = reverse("dramaturg:retries"), reverse("dramaturg:dead_list")
    links = {}
    for name in names:
        quoted = quote(name, safe="")
        links[name] = {
            "queue": queue_url.format(quoted),
            "pause": pause_url.format(quoted),
            "retries": f"{retries}?queue={quoted}",
            "dead": f"{dead}?queue={quoted}",
        }
    return links


@require_safe
@staff_required
def overview(request: HttpRequest) -> HttpResponse:
    data = overview_data()
    links = _queue_links([q.name for q in data["queues"]])
    context = {
        **data,
        "chart": throughput_chart(data["throughput"]),
        "rows": [(q, links[q.name]) for q in data["queues"]],
        "actor_url": reverse("dramaturg:actor", args=["ACTOR"]).replace("ACTOR/", ""),
        "per_minute_now": data["throughput"][-1][1] if data["throughput"] else 0,
        "can_manage_queues": request.user.has_perm(actions.QUEUE_PERMISSION),
    }
    template = "dramaturg/_overview_live.html" if request.GET.get("fragment") else "dramaturg/overview.html"
    return render(request, template, context)


@require_safe
@token_or_staff(anonymous="login")
def overview_json(request: HttpRequest) -> JsonResponse:
    data = overview_data()
    return JsonResponse(
        {
            "queues": [
                {
                    **vars(q.counts),
                    "paused": q.paused,
                    "oldest_ready_age_s": round(q.oldest_ready_age_s, 3),
                    "oldest_ready_ms": q.oldest_ready_ms,
                    "workers_alive": q.workers_alive,
                }
                for q in data["queues"]
            ],
            "totals": data["totals"],
            "throughput": [{"minute": m * 60, "processed": p, "failed": f} for m, p, f in data["throughput"]],
            "workers": [
                {
                    "id": w.worker_id,
                    "host": w.host,
                    "pid": w.pid,
                    "queues": w.queues,
                    "alive": w.alive,
                    "state": w.state,
                    "started_ms": w.started_at_ms,
                    "last_heartbeat_ms": w.last_heartbeat_ms,
                    "running": w.running,
                    "version": w.version,
                }
                for w in data["workers"]
            ],
        }
    )


@require_safe
@staff_required
def queue_detail(request: HttpRequest, queue: str) -> HttpResponse:
    tab = request.GET.get("tab", "ready")
    actor = request.GET.get("actor", "").strip()
    lookup = request.GET.get("id", "").strip()
    context: dict[str, Any] = {
        "queue": queue,
        "tab": tab,
        "actor": actor,
        "lookup": lookup,
        "counts": queues.queue_counts(queue),
    }
    [context["state"]] = monitoring.queue_states(stats.workers(conf.heartbeat_timeout_ms()), [queue])
    context["can_manage_queues"] = request.user.has_perm(actions.QUEUE_PERMISSION)
    if lookup:
        context["found"] = queues.find_message(queue, lookup)
    if tab == "delayed":
        context["items"], context["next_cursor"] = queues.page_delayed(
            queue, cursor=int_param(request, "cursor", MAX_REDIS_CURSOR), limit=PAGE_SIZE
        )
    else:
        page = int_param(request, "page", MAX_PAGE)
        ready = queues.ready_page(queue, page, actor=actor, page_size=PAGE_SIZE)
        context.update(items=ready.messages, has_next=ready.has_next, scanned=ready.scanned, page=page)
    context["actors"] = sorted(a.actor_name for a in dramatiq.get_broker().actors.values() if a.queue_name == queue)
    return render(request, "dramaturg/queue.html", context)


@require_POST
@staff_required
@permission_required(actions.QUEUE_PERMISSION, raise_exception=True)
def queue_pause(request: HttpRequest, queue: str) -> HttpResponse:
    """Pause (op=pause) or resume (op=resume) a queue for every worker; audited."""
    op = request.POST.get("op", "")
    next_url = safe_next(request, reverse("dramaturg:overview"))
    if op not in ("pause", "resume") or queue not in queues.queue_names():
        messages.error(request, gettext("Unknown queue or action."))
        return redirect(next_url)
    entry = actions.set_paused(request.user, queue, op == "pause")
    messages.success(request, actions.outcome_text(entry))
    return redirect(next_url)
