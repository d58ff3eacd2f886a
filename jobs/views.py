"""The operator's view of the job system: thin views over jobs.store, staff only (jobs.decorators).

The same dead-letter list, confirmation page and action serve the dashboard and
the Django admin, which mounts `dead_list` as its "Failed messages" changelist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import dramatiq
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST, require_safe

from . import actions, health, monitoring, prometheus, schedules, tasks, workflows
from .charts import bar_chart, duration_label, line_chart, sparkline, throughput_chart, time_axis_title
from .decorators import permission_required, staff_required, token_or_staff
from .masking import mask_secrets, pretty
from .models import BulkAction
from .store import actor_metrics, dead_letters, delayed, lookup, queues, stats
from .store.dead_letters import DeadLetterFilter, DeadLetterRef, InvalidReference
from .store.delayed import RetryFilter
from .timeutil import from_ms, now_ms

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
    workers = stats.workers(settings.DRAMATIQ_HEARTBEAT_TIMEOUT_MS)
    return {
        "queues": monitoring.queue_states(workers),
        "totals": stats.totals(),
        "throughput": stats.throughput(60),
        "workers": workers,
    }


def _queue_links(names: list[str]) -> dict[str, dict[str, str]]:
    """The links of each queue's row, from three reversed prefixes: one `reverse()` per row and
    link costs milliseconds with 100 queues (the overview renders every 3 s)."""
    queue_url = reverse("jobs:queue", args=["QUEUE"]).replace("QUEUE", "{}")
    pause_url = reverse("jobs:queue_pause", args=["QUEUE"]).replace("QUEUE", "{}")
    retries, dead = reverse("jobs:retries"), reverse("jobs:dead_list")
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
        "actor_url": reverse("jobs:actor", args=["ACTOR"]).replace("ACTOR/", ""),
        "per_minute_now": data["throughput"][-1][1] if data["throughput"] else 0,
        "can_manage_queues": request.user.has_perm(actions.QUEUE_PERMISSION),
    }
    template = "jobs/_overview_live.html" if request.GET.get("fragment") else "jobs/overview.html"
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
    [context["state"]] = monitoring.queue_states(stats.workers(settings.DRAMATIQ_HEARTBEAT_TIMEOUT_MS), [queue])
    context["can_manage_queues"] = request.user.has_perm(actions.QUEUE_PERMISSION)
    if lookup:
        context["found"] = queues.find_message(queue, lookup)
    if tab == "delayed":
        context["items"], context["next_cursor"] = queues.page_delayed(
            queue, cursor=_int_param(request, "cursor"), limit=PAGE_SIZE
        )
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
    listing = dead_letters.listing(
        filter, cursor=newer or request.GET.get("older"), direction="newer" if newer else "older", limit=PAGE_SIZE
    )
    page = listing.page
    lookup = request.GET.get("id", "").strip()
    if lookup:
        found = dead_letters.find_dead(lookup, [filter.queue] if filter.queue else listing.queue_names)
        page = dead_letters.DeadPage(found, None, None, len(found))
    return render(
        request,
        "jobs/dead_list.html",
        {
            "listing": listing,
            "page": page,
            "filters": filter,
            "lookup": lookup,
            "query": urlencode(filter.as_params()),
            "can_manage": request.user.has_perm(actions.PERMISSION),
        },
    )


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
            messages.info(
                request, "That message is no longer in the dead-letter set: it was requeued, deleted or expired."
            )
        return redirect("jobs:dead_list")
    return render(
        request,
        "jobs/dead_detail.html",
        {
            "message": message,
            "ref": ref,
            "can_manage": request.user.has_perm(actions.PERMISSION),
            "args": _bounded(pretty(message.args)),
            "kwargs": _bounded(pretty(message.kwargs)) if message.kwargs else None,
        },
    )


@require_safe
@staff_required
def dead_download(request: HttpRequest, queue: str, redis_id: str) -> HttpResponse:
    """The whole dead letter as JSON, secrets masked (an attachment, never rendered as a page)."""
    ref = _dead_ref(request, queue, redis_id)
    message = dead_letters.get_dead(ref) if ref else None
    if message is None:
        return redirect("jobs:dead_list")
    response = HttpResponse(
        json.dumps(mask_secrets(message.data), indent=1, default=str), content_type="application/json"
    )
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
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
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
    total = dead_letters.page_dead(filter, limit=1).total if scope == "matching" else len(refs)
    return _confirm_then_perform(
        request, "jobs/confirm.html", action, scope, refs, filter, total, next_url, actions.perform
    )


def _confirm_then_perform(
    request: HttpRequest,
    template: str,
    action: str,
    scope: str,
    refs: list[Any],
    filter: Any,
    total: int,
    next_url: str,
    perform: Callable[..., Any],
) -> HttpResponse:
    """The one action flow: a confirmation page first; then the action inline, or as a bulk job
    with a progress page when "all matching" is more than JOBS_BULK_INLINE_MAX messages."""
    as_job = scope == "matching" and total > settings.JOBS_BULK_INLINE_MAX
    if request.POST.get("confirm") != "yes":
        context = {
            "action": action,
            "scope": scope,
            "refs": [str(r) for r in refs],
            "filters": filter,
            "total": total,
            "next": next_url,
            "as_job": as_job,
        }
        return render(request, template, context)
    if as_job:
        job = tasks.start_bulk_action(request.user, action, filter.as_params(), total)
        return redirect("jobs:bulk", job.pk)
    entry = perform(request.user, action, scope, refs=refs, filter=filter)
    (messages.success if entry.count else messages.warning)(request, actions.outcome_text(entry))
    return redirect(next_url)


@require_safe
@staff_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "jobs/schedules.html",
        {
            "schedules": schedules.schedules(stats.periodic_runs()),
            "time_zone": settings.TIME_ZONE,
        },
    )


# --- per-actor metrics ---------------------------------------------------------------


def _window(request: HttpRequest) -> str:
    return "day" if request.GET.get("window") == "day" else "hour"


@require_safe
@staff_required
def actor_list(request: HttpRequest) -> HttpResponse:
    """A row per actor over the last hour (or day): counts, runtime percentiles, a sparkline; slowest first."""
    window = _window(request)
    rows = actor_metrics.summary_rows(window)
    for row in rows:
        row["sparkline"] = sparkline(row["series"])
        row.update(
            p50_label=duration_label(row["p50"]),
            p95_label=duration_label(row["p95"]),
            p99_label=duration_label(row["p99"]),
            mean_label=duration_label(row["counts"].mean_ms),
        )
    return render(
        request,
        "jobs/actors.html",
        {
            "rows": rows,
            "window": window,
            "deploys": actor_metrics.deploys(_window_start(window)),
            "version": actor_metrics.current_version(),
        },
    )


def _window_start(window: str) -> int:
    return now_ms() - (86_400_000 if window == "day" else 3_600_000)


@require_safe
@staff_required
def actor_detail(request: HttpRequest, actor: str) -> HttpResponse:
    """One actor: runtime p50/p95/p99 over time, attempts and failures, and deploy markers."""
    window = _window(request)
    periods = actor_metrics.periods(window, actor=actor)
    step = 3_600_000 if window == "day" else 60_000
    times = [p.start_ms for p in periods]
    counts = [p.counts.get(actor, actor_metrics.ActorCounts()) for p in periods]
    deploys = actor_metrics.deploys(times[0] if times else 0)
    markers = [(d.at_ms, d.version) for d in deploys]
    label_format = "%d %H:%M" if window == "day" else "%H:%M"
    runtime = line_chart(
        times,
        [
            ("p50", "p50", [c.quantile(0.5) for c in counts]),
            ("p95", "p95", [c.quantile(0.95) for c in counts]),
            ("p99", "p99", [c.quantile(0.99) for c in counts]),
        ],
        unit="runtime, ms",
        markers=markers,
        step_ms=step,
        label_format=label_format,
    )
    attempts = bar_chart(
        [(str(t), (c.processed, c.failed)) for t, c in zip(times, counts, strict=True)],
        [("processed", "ok"), ("failed", "bad")],
        unit="attempts / " + ("hour" if window == "day" else "minute"),
        x_title=time_axis_title(),
    )
    for bar, t in zip(attempts.bars, times, strict=True):
        object.__setattr__(bar, "label", _clock(t, label_format))
    total = actor_metrics.ActorCounts()
    for c in counts:
        total.add(c)
    return render(
        request,
        "jobs/actor.html",
        {
            "actor": actor,
            "window": window,
            "runtime": runtime,
            "attempts": attempts,
            "total": total,
            "p50": duration_label(total.quantile(0.5)),
            "p95": duration_label(total.quantile(0.95)),
            "p99": duration_label(total.quantile(0.99)),
            "deploys": deploys,
            "queue": getattr(dramatiq.get_broker().actors.get(actor), "queue_name", ""),
            "slow": [
                (p.start_ms, duration_label(c.quantile(0.95)))
                for p, c in zip(periods, counts, strict=True)
                if c.finished
            ][-10:],
        },
    )


def _clock(ms: int, fmt: str) -> str:
    return from_ms(ms).strftime(fmt)  # type: ignore[union-attr]


# --- pause and resume -----------------------------------------------------------------


@require_POST
@staff_required
@permission_required(actions.QUEUE_PERMISSION)
def queue_pause(request: HttpRequest, queue: str) -> HttpResponse:
    """Pause (op=pause) or resume (op=resume) a queue for every worker; audited."""
    op = request.POST.get("op", "")
    next_url = _safe_next(request, reverse("jobs:overview"))
    if op not in ("pause", "resume") or queue not in queues.queue_names():
        messages.error(request, "Unknown queue or action.")
        return redirect(next_url)
    entry = actions.set_paused(request.user, queue, op == "pause")
    messages.success(request, actions.outcome_text(entry))
    return redirect(next_url)


def _safe_next(request: HttpRequest, default: str) -> str:
    next_url = request.POST.get("next") or default
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    return next_url


# --- retries -----------------------------------------------------------------------------


@require_safe
@staff_required
def retry_list(request: HttpRequest) -> HttpResponse:
    """Messages waiting for a retry (delayed with retries > 0): retry now or kill, one, selected or all."""
    filter = RetryFilter.from_params(request.GET)
    page = delayed.page_retries(filter, cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    actors_ = sorted({a.actor_name for a in dramatiq.get_broker().actors.values()})
    return render(
        request,
        "jobs/retries.html",
        {
            "page": page,
            "filters": filter,
            "queue_names": queues.queue_names(),
            "actor_names": actors_,
            "query": urlencode(filter.as_params()),
            "can_manage": request.user.has_perm(actions.QUEUE_PERMISSION),
            "delayed_total": delayed.delayed_total(filter),
        },
    )


@require_POST
@staff_required
@permission_required(actions.QUEUE_PERMISSION)
def retry_action(request: HttpRequest) -> HttpResponse:
    """Retry now / kill one, the selected, or all matching: a confirmation page first, then the action."""
    action, _, scope = request.POST.get("op", "").partition(":")  # e.g. "retry_now:selected"
    filter = RetryFilter.from_params(request.POST)
    next_url = _safe_next(request, reverse("jobs:retries"))
    if action not in actions.RETRY_ACTIONS or scope not in actions.SCOPES:
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
    total = delayed.delayed_total(filter) if scope == "matching" else len(refs)
    return _confirm_then_perform(
        request, "jobs/confirm_retries.html", action, scope, refs, filter, total, next_url, actions.perform_on_retries
    )


# --- bulk actions as jobs -------------------------------------------------------------------


@require_safe
@staff_required
def bulk_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = BulkAction.objects.filter(pk=pk).first()
    if job is None:
        messages.error(request, "No such bulk action.")
        return redirect("jobs:overview")
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
    return render(request, "jobs/bulk.html", {"job": job, "verb": actions.VERBS.get(job.action, job.action)})


# --- any message by id -------------------------------------------------------------------


@require_safe
@staff_required
def message_lookup(request: HttpRequest) -> HttpResponse:
    """Where is message X: running (on which worker, since when), ready, delayed, retrying, dead, or
    finished recently (outcome and duration)."""
    message_id = request.GET.get("id", "").strip()
    sightings = []
    if message_id:
        workers = stats.workers(settings.DRAMATIQ_HEARTBEAT_TIMEOUT_MS)
        sightings = lookup.locate(
            message_id,
            queues.queue_names(),
            [w.worker_id for w in workers if w.alive],
            recent_max_age_ms=settings.JOBS_RECENT_MAX_AGE_S * 1000,
        )
    return render(
        request,
        "jobs/message.html",
        {
            "message_id": message_id,
            "sightings": sightings,
            "recent_limit": settings.JOBS_RECENT_LIMIT,
            "recent_hours": settings.JOBS_RECENT_MAX_AGE_S // 3600,
        },
    )


# --- workflow of a report run -------------------------------------------------------------


@require_safe
@staff_required
def report_workflow(request: HttpRequest, report_id: int) -> HttpResponse:
    """A report run as a workflow: chunks done of total, each chunk's state, retries, dead letters."""
    from reports.models import Report

    report = Report.objects.filter(pk=report_id).first()
    if report is None:
        messages.error(request, "No such report.")
        return redirect("jobs:overview")
    run = workflows.report_run(report)
    return render(request, "jobs/workflow.html", {"run": run, "report": report})


# --- for machines: Prometheus, health ---------------------------------------------------------


@require_safe
@token_or_staff()
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, cluster-wide (jobs.prometheus)."""
    return HttpResponse(prometheus.render(monitoring.snapshot()), content_type=prometheus.CONTENT_TYPE)


@require_safe
@token_or_staff()
def health_json(request: HttpRequest) -> JsonResponse:
    """The health checks as JSON: 200 when healthy, 503 with the problems otherwise."""
    report = health.run_checks()
    return JsonResponse(report.as_json(), status=200 if report.healthy else 503)
