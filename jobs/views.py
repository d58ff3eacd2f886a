"""The operator's view of the job system: thin views over jobs.store, staff only (jobs.decorators).

The same dead-letter list, confirmation page and action serve the dashboard and
the Django admin, which mounts `dead_list` as its "Failed messages" changelist.
"""
from __future__ import annotations

import json
from typing import Any

import dramatiq
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST, require_safe

from . import actions, schedules
from .charts import throughput_chart
from .decorators import permission_required, staff_required
from .masking import mask_secrets, pretty
from .store import dead_letters, queues, stats
from .store.dead_letters import DeadLetterFilter, DeadLetterRef, InvalidReference

PAGE_SIZE = 50
DETAIL_CHARS = 20_000  # of each argument block on the detail page; the download has everything
MALFORMED = "Malformed message reference."


def _int_param(request: HttpRequest, name: str) -> int:
    """A non-negative integer query parameter; anything else means 0 (the first page)."""
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else 0


def _bounded(text: str, limit: int = DETAIL_CHARS) -> dict[str, Any]:
    return {"text": text[:limit], "cut": max(len(text) - limit, 0)}


def overview_data() -> dict[str, Any]:
    return {
        "queues": queues.all_queue_counts(),
        "totals": stats.totals(),
        "throughput": stats.throughput(60),
        "workers": stats.workers(settings.DRAMATIQ_HEARTBEAT_TIMEOUT_MS),
    }


@require_safe
@staff_required
def overview(request: HttpRequest) -> HttpResponse:
    data = overview_data()
    context = {**data, "chart": throughput_chart(data["throughput"]),
               "per_minute_now": data["throughput"][-1][1] if data["throughput"] else 0}
    template = "jobs/_overview_live.html" if request.GET.get("fragment") else "jobs/overview.html"
    return render(request, template, context)


@require_safe
@staff_required
def overview_json(request: HttpRequest) -> JsonResponse:
    data = overview_data()
    return JsonResponse({
        "queues": [vars(q) for q in data["queues"]],
        "totals": data["totals"],
        "throughput": [{"minute": m * 60, "processed": p, "failed": f} for m, p, f in data["throughput"]],
        "workers": [
            {"id": w.worker_id, "host": w.host, "pid": w.pid, "queues": w.queues, "alive": w.alive, "state": w.state,
             "started_ms": w.started_at_ms, "last_heartbeat_ms": w.last_heartbeat_ms, "running": w.running}
            for w in data["workers"]
        ],
    })


@require_safe
@staff_required
def queue_detail(request: HttpRequest, queue: str) -> HttpResponse:
    tab = request.GET.get("tab", "ready")
    actor = request.GET.get("actor", "").strip()
    lookup = request.GET.get("id", "").strip()
    context: dict[str, Any] = {"queue": queue, "tab": tab, "actor": actor, "lookup": lookup,
                               "counts": queues.queue_counts(queue)}
    if lookup:
        context["found"] = queues.find_message(queue, lookup)
    if tab == "delayed":
        context["items"], context["next_cursor"] = queues.page_delayed(
            queue, cursor=_int_param(request, "cursor"), limit=PAGE_SIZE)
    else:
        page = _int_param(request, "page")
        ready = queues.ready_page(queue, page, actor=actor, page_size=PAGE_SIZE)
        context.update(items=ready.messages, has_next=ready.has_next, scanned=ready.scanned, page=page)
    context["actors"] = sorted(a.actor_name for a in dramatiq.get_broker().actors.values() if a.queue_name == queue)
    return render(request, "jobs/queue.html", context)


@require_safe
@staff_required
def dead_list(request: HttpRequest) -> HttpResponse:
    """The dead letters: filter, look-up by message id, keyset pages, and the forms of the action flow.
    Mounted twice: at /jobs/dead/ and as the admin's "Failed messages" changelist."""
    filter = DeadLetterFilter.from_params(request.GET)
    newer = request.GET.get("newer")
    listing = dead_letters.listing(filter, cursor=newer or request.GET.get("older"),
                                   direction="newer" if newer else "older", limit=PAGE_SIZE)
    page = listing.page
    lookup = request.GET.get("id", "").strip()
    if lookup:
        found = dead_letters.find_dead(lookup, [filter.queue] if filter.queue else listing.queue_names)
        page = dead_letters.DeadPage(found, None, None, len(found))
    return render(request, "jobs/dead_list.html", {
        "listing": listing, "page": page, "filters": filter, "lookup": lookup,
        "query": urlencode(filter.as_params()), "can_manage": request.user.has_perm(actions.PERMISSION),
    })


def _dead_ref(request: HttpRequest, queue: str, redis_id: str) -> DeadLetterRef | None:
    try:
        return DeadLetterRef.of(queue, redis_id)
    except InvalidReference:
        messages.error(request, MALFORMED)
        return None


@require_safe
@staff_required
def dead_detail(request: HttpRequest, queue: str, redis_id: str) -> HttpResponse:
    """One dead letter: reason, traceback, options, and a bounded view of its arguments."""
    ref = _dead_ref(request, queue, redis_id)
    message = dead_letters.get_dead(ref) if ref else None
    if message is None:
        if ref:
            messages.info(request, "That message is no longer in the dead-letter set: "
                                   "it was requeued, deleted or expired.")
        return redirect("jobs:dead_list")
    return render(request, "jobs/dead_detail.html", {
        "message": message, "ref": ref, "can_manage": request.user.has_perm(actions.PERMISSION),
        "args": _bounded(pretty(message.args)), "kwargs": _bounded(pretty(message.kwargs)) if message.kwargs else None,
    })


@require_safe
@staff_required
def dead_download(request: HttpRequest, queue: str, redis_id: str) -> HttpResponse:
    """The whole dead letter as JSON, secrets masked (an attachment, never rendered as a page)."""
    ref = _dead_ref(request, queue, redis_id)
    message = dead_letters.get_dead(ref) if ref else None
    if message is None:
        return redirect("jobs:dead_list")
    response = HttpResponse(json.dumps(mask_secrets(message.data), indent=1, default=str),
                            content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="dead-letter-{message.redis_id}.json"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@staff_required
@permission_required(actions.PERMISSION)
def dead_action(request: HttpRequest) -> HttpResponse:
    """Requeue/delete one, the selected, or all matching: a confirmation page first, then the action.
    The one action flow of the dashboard and the admin changelist."""
    action, _, scope = request.POST.get("op", "").partition(":")  # e.g. "requeue:selected"
    filter = DeadLetterFilter.from_params(request.POST)
    next_url = request.POST.get("next") or reverse("jobs:dead_list")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = reverse("jobs:dead_list")
    if action not in ("requeue", "delete") or scope not in actions.SCOPES:
        messages.error(request, "Unknown action.")
        return redirect(next_url)
    try:
        refs = dead_letters.parse_refs(request.POST.getlist("refs"))
    except InvalidReference:
        messages.error(request, MALFORMED)
        return redirect(next_url)
    if scope != "matching" and not refs:
        messages.warning(request, "Select at least one message first.")
        return redirect(next_url)
    if request.POST.get("confirm") != "yes":
        total = dead_letters.page_dead(filter, limit=1).total if scope == "matching" else len(refs)
        return render(request, "jobs/confirm.html", {
            "action": action, "scope": scope, "refs": [str(r) for r in refs], "filters": filter, "total": total,
            "next": next_url,
        })
    entry = actions.perform(request.user, action, scope, refs=refs, filter=filter)
    (messages.success if entry.count else messages.warning)(request, actions.outcome_text(entry))
    return redirect(next_url)


@require_safe
@staff_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/schedules.html", {
        "schedules": schedules.schedules(stats.periodic_runs()), "time_zone": settings.TIME_ZONE,
    })
