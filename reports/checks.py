"""System check: the stuck-run deadline must outlast the slowest run the actors' limits allow."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

from dramaturg import conf


def slowest_run_s() -> float:
    """Seconds a run may legitimately take: its build, one chunk and its merge, each through every attempt
    at its time limit with the longest retry backoff (jitter doubles it at most). Queueing comes on top."""
    from .tasks import build_report, compute_chunk, merge_report

    total_ms = 0
    for actor in (build_report, compute_chunk, merge_report):
        retries = actor.options.get("max_retries", conf.settings.RETRIES.MAX_RETRIES)
        total_ms += actor.options["time_limit"] * (retries + 1)
        total_ms += sum(
            min(2 * conf.settings.RETRIES.MIN_BACKOFF_MS * 2**n, conf.settings.RETRIES.MAX_BACKOFF_MS)
            for n in range(1, retries + 1)
        )
    return total_ms / 1000


@register()
def stuck_deadline(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    slowest = slowest_run_s()
    if slowest < settings.REPORTS_STUCK_AFTER_S:
        return []
    return [
        Warning(
            f"REPORTS_STUCK_AFTER_S ({settings.REPORTS_STUCK_AFTER_S}s) is not longer than the slowest run the "
            f"report actors' time limits and retries allow ({slowest:.0f}s)",
            hint="The reconciler would restart runs still in progress; raise REPORTS_STUCK_AFTER_S.",
            id="reports.W001",
        )
    ]
