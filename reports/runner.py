"""Starting reports, splitting them into chunks and merging them exactly once."""
from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Callable, Optional

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Min
from django.utils import timezone

from accounts.models import User

from . import metrics
from .models import Report, ReportChunk
from .periods import week_days


def request_report(kind: str, period_start: date, *, force: bool = False, retry_failed: bool = False,
                   enqueue: Optional[Callable[[int, str], None]] = None) -> tuple[Report, bool]:
    """Create the report if needed and start a run; returns (report, started).

    A report that is running or done is left alone unless `force` (a failed one
    also with `retry_failed`): two schedulers, or a scheduler and an operator,
    asking for the same period start it once.
    """
    from .tasks import build_report

    report, _ = Report.objects.get_or_create(kind=kind, period_start=period_start)
    allowed = [Report.Status.PENDING] + ([Report.Status.FAILED] if retry_failed else [])
    if force:
        allowed += [Report.Status.RUNNING, Report.Status.DONE, Report.Status.FAILED]
    run_id = uuid.uuid4()
    with transaction.atomic():
        started = Report.objects.filter(pk=report.pk, status__in=allowed).update(
            status=Report.Status.RUNNING, run_id=run_id, started_at=timezone.now(), finished_at=None,
            duration_s=None, error="", chunks_total=0, chunks_done=0,
        )
        if started:
            # A weekly build waits (by retrying) for its seven daily reports: give it hours, not minutes.
            options = {"max_retries": 240} if kind == Report.Kind.WEEKLY else {}
            send = enqueue or (lambda pk, run: build_report.send_with_options(args=(pk, run), **options))
            transaction.on_commit(lambda: send(report.pk, str(run_id)))
    report.refresh_from_db()
    return report, bool(started)


def plan_chunks(report: Report, run_id: str) -> list[ReportChunk]:
    """Split the users into id ranges of REPORTS_CHUNK_SIZE; idempotent for a run."""
    bounds = User.objects.aggregate(low=Min("pk"), high=Max("pk"))
    size = settings.REPORTS_CHUNK_SIZE
    chunks = []
    if bounds["low"] is not None:
        for index, first in enumerate(range(bounds["low"], bounds["high"] + 1, size)):
            chunks.append(ReportChunk(report=report, run_id=run_id, index=index, first_user_id=first,
                                      end_user_id=first + size))
    with transaction.atomic():
        ReportChunk.objects.bulk_create(chunks, ignore_conflicts=True)
        Report.objects.filter(pk=report.pk, run_id=run_id, status=Report.Status.RUNNING).update(
            chunks_total=len(chunks))
    return list(ReportChunk.objects.filter(report=report, run_id=run_id).order_by("index"))


def record_chunk(chunk: ReportChunk, result: dict) -> None:
    """Store a chunk's result and count it, once: a redelivered chunk counts nothing."""
    with transaction.atomic():
        if ReportChunk.objects.filter(pk=chunk.pk, done=False).update(done=True, result=result):
            Report.objects.filter(pk=chunk.report_id, run_id=chunk.run_id).update(chunks_done=F("chunks_done") + 1)


def ready_to_merge(report_id: int, run_id: str) -> bool:
    return Report.objects.filter(pk=report_id, run_id=run_id, status=Report.Status.RUNNING,
                                 chunks_done__gte=F("chunks_total")).exists()


def finish(report_id: int, run_id: str, result: dict) -> bool:
    """Mark the run done with its result; only the first caller of a run succeeds."""
    report = Report.objects.get(pk=report_id)
    now = timezone.now()
    return bool(Report.objects.filter(pk=report_id, run_id=run_id, status=Report.Status.RUNNING).update(
        status=Report.Status.DONE, result=result, finished_at=now, merge_runs=F("merge_runs") + 1,
        duration_s=(now - report.started_at).total_seconds() if report.started_at else None,
    ))


def merge_daily(report_id: int, run_id: str) -> bool:
    parts = ReportChunk.objects.filter(report_id=report_id, run_id=run_id, done=True).values_list("result", flat=True)
    result = metrics.merge(parts)
    report = Report.objects.get(pk=report_id)
    result["retention"]["cohort_day"] = (report.period_start - timedelta(days=7)).isoformat()
    return finish(report_id, run_id, result)


def fail(report_id: int, run_id: str, reason: str) -> bool:
    return bool(Report.objects.filter(pk=report_id, run_id=run_id, status=Report.Status.RUNNING).update(
        status=Report.Status.FAILED, error=reason[:5000], finished_at=timezone.now()))


def weekly_inputs(monday: date) -> tuple[list[Report], list[date]]:
    """The week's done daily reports, and the days still missing one (started here)."""
    done, missing = [], []
    for day in week_days(monday):
        daily, _ = request_report(Report.Kind.DAILY, day)
        if daily.status == Report.Status.DONE:
            done.append(daily)
        elif daily.status == Report.Status.FAILED:
            raise RuntimeError(f"the daily report of {day} failed: {daily.error.splitlines()[-1:]}")
        else:
            missing.append(day)
    return done, missing


def merge_weekly(report_id: int, run_id: str, dailies: list[Report]) -> bool:
    result = metrics.merge(d.result for d in dailies)
    result["retention"].pop("cohort_day", None)
    result["days"] = [{"day": d.period_start.isoformat(), "signups": d.result["signups"],
                       "logins": d.result["logins"], "active_users": d.result["active_users"]} for d in dailies]
    return finish(report_id, run_id, result)
