"""Per-actor metrics: every actor over the last hour or day, and one actor over time."""

from __future__ import annotations

import dramatiq
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.http import require_safe

from ..charts import bar_chart, duration_label, line_chart, sparkline, time_axis_title
from ..decorators import staff_required
from ..store import actor_metrics
from ..timeutil import from_ms, now_ms


def _window(request: HttpRequest) -> str:
    return "day" if request.GET.get("window") == "day" else "hour"


def _window_start(window: str) -> int:
    return now_ms() - (86_400_000 if window == "day" else 3_600_000)


def _clock(ms: int, fmt: str) -> str:
    return from_ms(ms).strftime(fmt)  # type: ignore[union-attr]


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
        "dramaturg/actors.html",
        {
            "rows": rows,
            "window": window,
            "deploys": actor_metrics.deploys(_window_start(window)),
            "version": actor_metrics.current_version(),
        },
    )


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
        # Translators: the chart labels each point with the part after the last ", " (the unit).
        unit=gettext("runtime, ms"),
        markers=markers,
        step_ms=step,
        label_format=label_format,
    )
    attempts = bar_chart(
        [(str(t), (c.processed, c.failed)) for t, c in zip(times, counts, strict=True)],
        [("processed", "ok"), ("failed", "bad")],
        unit=gettext("attempts / hour") if window == "day" else gettext("attempts / minute"),
        x_title=time_axis_title(),
    )
    for bar, t in zip(attempts.bars, times, strict=True):
        object.__setattr__(bar, "label", _clock(t, label_format))
    total = actor_metrics.ActorCounts()
    for c in counts:
        total.add(c)
    return render(
        request,
        "dramaturg/actor.html",
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
