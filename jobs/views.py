"""The operator's view of the job system: staff only, reading Redis through broker_store."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

import dramatiq
import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from . import actions, broker_store, schedules
from .charts import bar_chart
from .templatetags.jobs_tags import from_ms

PAGE_SIZE = 50
ACTOR_SCAN_LIMIT = 10_000


def staff_required(view: Callable) -> Callable:
    """Anonymous users go to the login page, logged-in non-staff get 403, and an
    unreachable Redis gives a 503 page instead of a traceback."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not request.user.is_staff:
            raise PermissionDenied
        try:
            return view(request, *args, **kwargs)
        except redis.RedisError as error:
            return render(request, "jobs/redis_down.html", {"error": error}, status=503)

    return wrapped


def overview_data() -> dict[str, Any]:
    return {
        "queues": broker_store.all_queue_counts(),
        "totals": broker_store.totals(),
        "throughput": broker_store.throughput(60),
        "workers": broker_store.workers(),
    }


def throughput_chart(rows: list[tuple[int, int, int]]):
    labels = [from_ms(m * 60_000).strftime("%H:%M") for m, _, _ in rows]
    return bar_chart([(label, (p, f)) for label, (_, p, f) in zip(labels, rows)],
                     [("processed", "ok"), ("failed", "bad")])


@staff_required
def overview(request: HttpRequest) -> HttpResponse:
    data = overview_data()
    context = {**data, "chart": throughput_chart(data["throughput"]),
               "per_minute_now": data["throughput"][-1][1] if data["throughput"] else 0}
    template = "jobs/_overview_live.html" if request.GET.get("fragment") else "jobs/overview.html"
    return render(request, template, context)


@staff_required
def overview_json(request: HttpRequest) -> JsonResponse:
    data = overview_data()
    return JsonResponse({
        "queues": [vars(q) for q in data["queues"]],
        "totals": data["totals"],
        "throughput": [{"minute": m * 60, "processed": p, "failed": f} for m, p, f in data["throughput"]],
        "workers": [
            {"id": w.worker_id, "host": w.host, "pid": w.pid, "queues": w.queues, "alive": w.alive,
             "started_ms": w.started_at_ms, "last_heartbeat_ms": w.last_heartbeat_ms, "running": w.running}
            for w in data["workers"]
        ],
    })


def _ready_page(queue: str, page: int, actor: str) -> tuple[list, bool, int]:
    """A page of ready messages; with an actor filter, scans at most ACTOR_SCAN_LIMIT entries."""
    if not actor:
        items = broker_store.page_ready(queue, offset=page * PAGE_SIZE, limit=PAGE_SIZE + 1)
        return items[:PAGE_SIZE], len(items) > PAGE_SIZE, 0
    matches, scanned = [], 0
    while scanned < ACTOR_SCAN_LIMIT:
        chunk = broker_store.page_ready(queue, offset=scanned, limit=500)
        if not chunk:
            break
        scanned += 500
        matches.extend(m for m in chunk if m.actor_name == actor)
        if len(matches) > (page + 1) * PAGE_SIZE:
            break
    start = page * PAGE_SIZE
    return matches[start: start + PAGE_SIZE], len(matches) > start + PAGE_SIZE, scanned


def _int_param(request: HttpRequest, name: str) -> int:
    """A non-negative integer query parameter; anything else means 0 (the first page)."""
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else 0


@staff_required
def queue_detail(request: HttpRequest, queue: str) -> HttpResponse:
    tab = request.GET.get("tab", "ready")
    actor = request.GET.get("actor", "").strip()
    lookup = request.GET.get("id", "").strip()
    context: dict[str, Any] = {"queue": queue, "tab": tab, "actor": actor, "lookup": lookup,
                               "counts": broker_store.queue_counts(queue)}
    if lookup:
        context["found"] = broker_store.find_message(queue, lookup)
    if tab == "delayed":
        cursor = _int_param(request, "cursor")
        context["items"], context["next_cursor"] = broker_store.page_delayed(queue, cursor=cursor, limit=PAGE_SIZE)
    else:
        page = _int_param(request, "page")
        context["items"], context["has_next"], context["scanned"] = _ready_page(queue, page, actor)
        context["page"] = page
    schedules.import_task_modules()
    context["actors"] = sorted(a.actor_name for a in dramatiq.get_broker().actors.values() if a.queue_name == queue)
    return render(request, "jobs/queue.html", context)


def _filters(source) -> dict[str, str]:
    return {k: source.get(k, "").strip() for k in ("queue", "actor", "exception")}


def dead_listing(params, limit: int) -> dict[str, Any]:
    """What the dead-letter list and the admin changelist show: the page for the
    filter and cursor in `params`, and the filter choices, from one read of each."""
    filters = _filters(params)
    groups = broker_store.dead_groups()
    queues = broker_store.queue_names()
    page = broker_store.page_dead(
        filters["queue"] or None, filters["actor"] or None, filters["exception"] or None,
        cursor=params.get("newer") or params.get("older"), direction="newer" if params.get("newer") else "older",
        limit=limit, groups=groups, queues=queues)
    return {
        "page": page, "filters": filters, "groups": groups,
        "filtered_groups": broker_store.filter_groups(groups, filters["queue"], filters["actor"],
                                                      filters["exception"]),
        "queue_names": sorted({g.queue_name for g in groups} | set(queues)),
        "actor_names": sorted({g.actor_name for g in groups}),
        "exception_names": sorted({g.exception_type for g in groups}),
    }


@staff_required
def dead_list(request: HttpRequest) -> HttpResponse:
    listing = dead_listing(request.GET, PAGE_SIZE)
    query = urlencode({k: v for k, v in listing["filters"].items() if v})
    return render(request, "jobs/dead_list.html", {
        **listing, "query": query, "can_manage": request.user.has_perm(actions.PERMISSION),
    })


@staff_required
def dead_detail(request: HttpRequest, queue: str, redis_id: str) -> HttpResponse:
    message = broker_store.get_dead(f"{queue}/{redis_id}")
    if message is None:
        messages.info(request, "That message is no longer in the dead-letter set: it was requeued, deleted or expired.")
        return redirect("jobs:dead_list")
    return render(request, "jobs/dead_detail.html", {
        "message": message, "can_manage": request.user.has_perm(actions.PERMISSION),
    })


@require_POST
@staff_required
def dead_action(request: HttpRequest) -> HttpResponse:
    """Requeue/delete one, the selected, or all matching: a confirmation page first, then the action."""
    if not request.user.has_perm(actions.PERMISSION):
        raise PermissionDenied
    action, _, scope = request.POST.get("op", "").partition(":")  # e.g. "requeue:selected"
    refs = request.POST.getlist("refs")
    filters = _filters(request.POST)
    next_url = request.POST.get("next") or reverse("jobs:dead_list")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("jobs:dead_list")
    if action not in ("requeue", "delete") or scope not in ("one", "selected", "matching"):
        messages.error(request, "Unknown action.")
        return redirect(next_url)
    if scope != "matching" and not refs:
        messages.warning(request, "Select at least one message first.")
        return redirect(next_url)
    if not actions.valid_refs(refs):
        messages.error(request, "Malformed message reference.")
        return redirect(next_url)
    if request.POST.get("confirm") != "yes":
        if scope == "matching":
            total = broker_store.page_dead(filters["queue"] or None, filters["actor"] or None,
                                           filters["exception"] or None, limit=1).total
        else:
            total = len(refs)
        return render(request, "jobs/confirm.html", {
            "action": action, "scope": scope, "refs": refs, "filters": filters, "total": total, "next": next_url,
        })
    entry = actions.perform(request.user, action, scope, refs=refs, filters=filters)
    (messages.success if entry.count else messages.warning)(request, actions.outcome_text(entry))
    return redirect(next_url)


@staff_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/schedules.html", {
        "schedules": schedules.schedules(broker_store.periodic_runs()), "time_zone": settings.TIME_ZONE,
    })
