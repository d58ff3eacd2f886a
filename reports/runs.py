"""The database state of report runs: starting and restarting a run, its chunks, and its one merge.

Nothing here sends a message; the actors and the functions that request reports
(`reports/tasks.py`) decide what to enqueue from what these return.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Min
from django.utils import timezone

from accounts.models import User

from . import metrics
from .models import Report, ReportChunk
from .periods import week_days, week_start


def _fresh_run(run_id: uuid.UUID) -> dict[str, Any]:
    """The fields of a report at the start of a new run."""
    return {
        "status": Report.Status.RUNNING,
        "run_id": run_id,
        "started_at": timezone.now(),
        "finished_at": None,
        "duration_s": None,
        "error": "",
        "chunks_total": 0,
        "chunks_done": 0,
    }


def start_run(
    kind: str, period_start: date, *, force: bool = False, retry_failed: bool = False
) -> tuple[Report, uuid.UUID | None]:
    """Create the report if needed and mark a new run of it running; returns (report, new run id or None).

    A report that is running or done is left alone unless `force` (a failed one
    also with `retry_failed`): two schedulers, or a scheduler and an operator,
    asking for the same period start it once. Call it inside the transaction
    that records the run's first message.
    """
    report, _ = Report.objects.get_or_create(kind=kind, period_start=period_start)
    allowed = [Report.Status.PENDING] + ([Report.Status.FAILED] if retry_failed else [])
    if force:
        allowed += [Report.Status.RUNNING, Report.Status.DONE, Report.Status.FAILED]
    run_id = uuid.uuid4()
    started = Report.objects.filter(pk=report.pk, status__in=allowed).update(**_fresh_run(run_id))
    report.refresh_from_db()
    return report, run_id if started else None


def stuck(started_before: datetime) -> list[Report]:
    """Reports whose current run has been running since before `started_before`, dailies first
    (a weekly waits for its dailies)."""
    return list(
        Report.objects.filter(status=Report.Status.RUNNING, started_at__lt=started_before).order_by(
            "kind", "period_start"
        )
    )  # "daily" < "weekly"


def restart(report: Report, started_before: datetime) -> uuid.UUID | None:
    """Replace a stuck run by a new one; returns the new run id, or None if the run moved on meanwhile
    (it finished, or someone else restarted it). Messages of the old run find a different run id and do nothing."""
    run_id = uuid.uuid4()
    restarted = Report.objects.filter(
        pk=report.pk, run_id=report.run_id, status=Report.Status.RUNNING, started_at__lt=started_before
    ).update(**_fresh_run(run_id))
    return run_id if restarted else None


def plan_chunks(report: Report, run_id: str) -> list[ReportChunk]:
    """Split the users into id ranges of REPORTS_CHUNK_SIZE; idempotent for a run."""
    bounds = User.objects.aggregate(low=Min("pk"), high=Max("pk"))
    size = settings.REPORTS_CHUNK_SIZE
    chunks = []
    if bounds["low"] is not None:
        for index, first in enumerate(range(bounds["low"], bounds["high"] + 1, size)):
            chunks.append(
                ReportChunk(report=report, run_id=run_id, index=index, first_user_id=first, end_user_id=first + size)
            )
    with transaction.atomic():
        ReportChunk.objects.bulk_create(chunks, ignore_conflicts=True)
        Report.objects.filter(pk=report.pk, run_id=run_id, status=Report.Status.RUNNING).update(
            chunks_total=len(chunks)
        )
    return list(ReportChunk.objects.filter(report=report, run_id=run_id).order_by("index"))


def record_chunk(chunk: ReportChunk, result: dict) -> None:
    """Store a chunk's result and count it, once: a redelivered chunk counts nothing."""
    with transaction.atomic():
        if ReportChunk.objects.filter(pk=chunk.pk, done=False).update(done=True, result=result):
            Report.objects.filter(pk=chunk.report_id, run_id=chunk.run_id).update(chunks_done=F("chunks_done") + 1)


def ready_to_merge(report_id: int, run_id: str) -> bool:
    return Report.objects.filter(
        pk=report_id, run_id=run_id, status=Report.Status.RUNNING, chunks_done__gte=F("chunks_total")
    ).exists()


def finish(report_id: int, run_id: str, result: dict) -> bool:
    """Mark the run done with its result; only the first caller of a run succeeds."""
    report = Report.objects.get(pk=report_id)
    now = timezone.now()
    return bool(
        Report.objects.filter(pk=report_id, run_id=run_id, status=Report.Status.RUNNING).update(
            status=Report.Status.DONE,
            result=result,
            finished_at=now,
            merge_runs=F("merge_runs") + 1,
            duration_s=(now - report.started_at).total_seconds() if report.started_at else None,
        )
    )


def merge_daily(report_id: int, run_id: str) -> bool:
    parts = ReportChunk.objects.filter(report_id=report_id, run_id=run_id, done=True).values_list("result", flat=True)
    result = metrics.merge(part for part in parts if part is not None)
    report = Report.objects.get(pk=report_id)
    result["retention"]["cohort_day"] = (report.period_start - timedelta(days=7)).isoformat()
    return finish(report_id, run_id, result)


def fail(report_id: int, run_id: str, reason: str) -> bool:
    return bool(
        Report.objects.filter(pk=report_id, run_id=run_id, status=Report.Status.RUNNING).update(
            status=Report.Status.FAILED, error=reason[:5000], finished_at=timezone.now()
        )
    )


def dailies_of_week(monday: date) -> dict[date, Report | None]:
    """The week's daily reports by day (None: never requested)."""
    days = week_days(monday)
    found = {r.period_start: r for r in Report.objects.filter(kind=Report.Kind.DAILY, period_start__in=days)}
    return {day: found.get(day) for day in days}


def waiting_weekly(day: date) -> Report | None:
    """The running weekly report of the week that contains `day`, if any: it waits for that day's report."""
    return Report.objects.filter(
        kind=Report.Kind.WEEKLY, period_start=week_start(day), status=Report.Status.RUNNING
    ).first()


def merge_weekly(report_id: int, run_id: str, dailies: Iterable[Report]) -> bool:
    dailies = list(dailies)
    results = [(d, d.result or {}) for d in dailies]
    result = metrics.merge(r for _, r in results)
    result["retention"].pop("cohort_day", None)
    result["days"] = [
        {
            "day": d.period_start.isoformat(),
            "signups": r["signups"],
            "logins": r["logins"],
            "active_users": r["active_users"],
        }
        for d, r in results
    ]
    return finish(report_id, run_id, result)
