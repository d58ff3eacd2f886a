"""Report actors on the `reports` queue: build -> chunks (fan-out) -> merge (fan-in, once).

Fan-in is an atomic countdown in the database rather than a dramatiq group: each
chunk marks itself done and increments `chunks_done` in one transaction (so a
redelivered chunk counts nothing), then any chunk that sees the count complete
sends the merge; the merge's conditional UPDATE lets only one of them finish
the run. No result backend is needed and nothing is lost if a worker dies.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import dramatiq
from django.conf import settings
from periodiq import cron

from . import metrics, runner
from .models import Report, ReportChunk
from .periods import today, week_start

logger = logging.getLogger(__name__)

REPORTS = settings.DRAMATIQ_QUEUE_REPORTS


@dramatiq.actor(queue_name=REPORTS, max_retries=5, time_limit=10 * 60_000)
def build_report(report_id: int, run_id: str) -> None:
    report = Report.objects.get(pk=report_id)
    if str(report.run_id) != run_id or report.status != Report.Status.RUNNING:
        return  # an older run, or already finished
    if report.kind == Report.Kind.WEEKLY:
        return build_weekly(report, run_id)
    chunks = runner.plan_chunks(report, run_id)
    broker = compute_chunk.broker
    for chunk in chunks:
        if not chunk.done:
            broker.enqueue(compute_chunk.message(report_id, run_id, chunk.index))
    if runner.ready_to_merge(report_id, run_id):  # no users at all, or a redelivered build
        merge_report.send(report_id, run_id)


def build_weekly(report: Report, run_id: str) -> None:
    try:
        dailies, missing = runner.weekly_inputs(report.period_start)
    except RuntimeError as error:
        runner.fail(report.pk, run_id, str(error))
        return
    if missing:
        raise dramatiq.Retry(f"waiting for the daily reports of {missing}", delay=settings.REPORTS_WEEKLY_WAIT_MS)
    runner.merge_weekly(report.pk, run_id, dailies)


@dramatiq.actor(queue_name=REPORTS, max_retries=settings.REPORTS_CHUNK_MAX_RETRIES, time_limit=5 * 60_000,
                on_retry_exhausted="report_chunk_failed")
def compute_chunk(report_id: int, run_id: str, index: int) -> None:
    chunk = ReportChunk.objects.filter(report_id=report_id, run_id=run_id, index=index).first()
    if chunk is None:
        return  # a run that was replaced
    if not chunk.done:
        if index in settings.REPORTS_FAIL_CHUNKS:  # fault injection for the failure tests
            raise RuntimeError(f"chunk {index} fails on purpose (REPORTS_FAIL_CHUNKS)")
        report = chunk.report
        runner.record_chunk(chunk, metrics.chunk_metrics(report.period_start, chunk.first_user_id, chunk.end_user_id))
    if runner.ready_to_merge(report_id, run_id):
        merge_report.send(report_id, run_id)


@dramatiq.actor(queue_name=REPORTS, max_retries=5, time_limit=5 * 60_000)
def merge_report(report_id: int, run_id: str) -> None:
    if runner.ready_to_merge(report_id, run_id) and runner.merge_daily(report_id, run_id):
        logger.info("Report %s merged", report_id)


@dramatiq.actor(queue_name=REPORTS, max_retries=5, time_limit=60_000)
def report_chunk_failed(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Called by Retries when a chunk has used up its retries: the report fails, with the reason."""
    report_id, run_id, index = message["args"]
    traceback = (message.get("options") or {}).get("traceback", "").strip()
    reason = traceback.rsplit("\n", 1)[-1] if traceback else "unknown error"
    runner.fail(report_id, run_id, f"chunk {index} failed after {retry_info.get('retries', '?')} retries: {reason}")


@dramatiq.actor(queue_name=REPORTS, max_retries=3, time_limit=60_000, periodic=cron(settings.REPORTS_DAILY_CRON))
def schedule_daily_report() -> None:
    """Daily at 02:00 local time: the report of the day before."""
    runner.request_report(Report.Kind.DAILY, today() - timedelta(days=1))


@dramatiq.actor(queue_name=REPORTS, max_retries=3, time_limit=60_000, periodic=cron(settings.REPORTS_WEEKLY_CRON))
def schedule_weekly_report() -> None:
    """Mondays: the summary of the week before."""
    runner.request_report(Report.Kind.WEEKLY, week_start(today()) - timedelta(days=7))


def catch_up(days: int, until: date | None = None) -> list[Report]:
    """Start every missing (or failed) daily report of the last `days` days and the weeks they complete."""
    last = until or today() - timedelta(days=1)
    started = []
    for offset in range(days):
        day = last - timedelta(days=offset)
        report, ok = runner.request_report(Report.Kind.DAILY, day, retry_failed=True)
        if ok:
            started.append(report)
    monday = week_start(last + timedelta(days=1)) - timedelta(days=7)
    while monday >= last - timedelta(days=days - 1):
        report, ok = runner.request_report(Report.Kind.WEEKLY, monday, retry_failed=True)
        if ok:
            started.append(report)
        monday -= timedelta(days=7)
    return started

