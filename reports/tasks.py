"""Report actors on the `reports` queue, and the functions that start them.

build -> chunks (fan-out) -> merge (fan-in, once). Fan-in is an atomic countdown
in the database rather than a dramatiq group: each chunk marks itself done and
increments `chunks_done` in one transaction (so a redelivered chunk counts
nothing), then any chunk that sees the count complete sends the merge; the
merge's conditional UPDATE lets only one of them finish the run. No result
backend is needed and nothing is lost if a worker dies.

A run's first message (`build_report`) goes through the transactional outbox,
so a committed run always gets it, even with Redis down at that moment. A run
whose later messages are lost anyway (Redis restarted without persistence) is
restarted by `reconcile`, as a new run, once it has been running for longer
than REPORTS_STUCK_AFTER_S.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import dramatiq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from periodiq import cron

from dramaturg import outbox

from . import metrics, runs
from .models import Report, ReportChunk
from .periods import today, week_start

logger = logging.getLogger(__name__)

REPORTS = settings.DRAMATIQ_QUEUE_REPORTS


# --- Actors


@dramatiq.actor(queue_name=REPORTS, max_retries=5, time_limit=10 * 60_000)
def build_report(report_id: int, run_id: str) -> None:
    report = Report.objects.get(pk=report_id)
    if str(report.run_id) != run_id or report.status != Report.Status.RUNNING:
        return  # an older run, or already finished
    if report.kind == Report.Kind.WEEKLY:
        return build_weekly(report, run_id)
    chunks = runs.plan_chunks(report, run_id)
    broker = compute_chunk.broker
    for chunk in chunks:
        if not chunk.done:
            broker.enqueue(compute_chunk.message(report_id, run_id, chunk.index))
    if runs.ready_to_merge(report_id, run_id):  # no users at all, or a redelivered build
        merge_report.send(report_id, run_id)


def build_weekly(report: Report, run_id: str) -> None:
    """Merge the week's seven daily reports, or start the missing ones and return.

    Waiting is not a failed attempt: the daily report that ends last sends this
    build again (`_wake_weekly`), as does one that fails.
    """
    dailies = runs.dailies_of_week(report.period_start)
    for day, daily in dailies.items():
        if daily is not None and daily.status == Report.Status.FAILED:
            reason = (daily.error.strip().splitlines() or ["unknown error"])[-1]
            runs.fail(report.pk, run_id, f"the daily report of {day} failed: {reason}")
            return
    missing = [day for day, daily in dailies.items() if daily is None or daily.status != Report.Status.DONE]
    if missing:
        for day in missing:
            request_report(Report.Kind.DAILY, day)  # starts the ones never started; running ones are left alone
        logger.info(
            "Weekly report %s waits for the daily reports of %s",
            report.pk,
            ", ".join(day.isoformat() for day in missing),
        )
        return
    runs.merge_weekly(report.pk, run_id, [daily for daily in dailies.values() if daily is not None])


@dramatiq.actor(
    queue_name=REPORTS,
    max_retries=settings.REPORTS_CHUNK_MAX_RETRIES,
    time_limit=5 * 60_000,
    on_retry_exhausted="report_chunk_failed",
)
def compute_chunk(report_id: int, run_id: str, index: int) -> None:
    chunk = (
        ReportChunk.objects.filter(
            report_id=report_id, run_id=run_id, index=index, report__run_id=run_id, report__status=Report.Status.RUNNING
        )
        .select_related("report")
        .first()
    )
    if chunk is None:
        return  # a run that was replaced (restarted, rerun) or has ended: its work would count for nothing
    if not chunk.done:
        runs.record_chunk(
            chunk, metrics.chunk_metrics(chunk.report.period_start, chunk.first_user_id, chunk.end_user_id)
        )
    if runs.ready_to_merge(report_id, run_id):
        merge_report.send(report_id, run_id)


@dramatiq.actor(queue_name=REPORTS, max_retries=5, time_limit=5 * 60_000)
def merge_report(report_id: int, run_id: str) -> None:
    if runs.ready_to_merge(report_id, run_id) and runs.merge_daily(report_id, run_id):
        logger.info("Report %s merged", report_id)
    # On every delivery of a finished run, not only the one that merged: a worker
    # killed between the merge and the wake-up must not leave the weekly waiting.
    _wake_weekly(report_id, run_id)


@dramatiq.actor(queue_name=REPORTS, max_retries=5, time_limit=60_000)
def report_chunk_failed(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Called by Retries when a chunk has used up its retries: the report fails, with the reason."""
    report_id, run_id, index = message["args"]
    traceback = (message.get("options") or {}).get("traceback", "").strip()
    reason = traceback.rsplit("\n", 1)[-1] if traceback else "unknown error"
    runs.fail(report_id, run_id, f"chunk {index} failed after {retry_info.get('retries', '?')} retries: {reason}")
    _wake_weekly(report_id, run_id)


@dramatiq.actor(queue_name=REPORTS, max_retries=3, time_limit=60_000, periodic=cron(settings.REPORTS_DAILY_CRON))
def schedule_daily_report() -> None:
    """Daily at 02:00 local time: the report of the day before."""
    request_report(Report.Kind.DAILY, today() - timedelta(days=1))


@dramatiq.actor(queue_name=REPORTS, max_retries=3, time_limit=60_000, periodic=cron(settings.REPORTS_WEEKLY_CRON))
def schedule_weekly_report() -> None:
    """Mondays: the summary of the week before."""
    request_report(Report.Kind.WEEKLY, week_start(today()) - timedelta(days=7))


@dramatiq.actor(queue_name=REPORTS, max_retries=3, time_limit=60_000, periodic=cron(settings.REPORTS_RECONCILE_CRON))
def reconcile_reports() -> None:
    """Every few minutes: restart the reports stuck in `running` past REPORTS_STUCK_AFTER_S."""
    reconcile()


def _wake_weekly(daily_id: int, run_id: str) -> None:
    """If this run of a daily report has ended, send the build of the weekly report waiting for it.

    Checked after the daily's end is committed, and the weekly is marked running
    before its first build reads the dailies, so either that build sees the
    daily ended or this finds the weekly running: the wake-up is never missed.
    """
    daily = Report.objects.filter(
        pk=daily_id, run_id=run_id, kind=Report.Kind.DAILY, status__in=[Report.Status.DONE, Report.Status.FAILED]
    ).first()
    if daily is None:
        return
    with transaction.atomic():
        weekly = runs.waiting_weekly(daily.period_start)
        if weekly is not None:
            outbox.enqueue_on_commit(build_report, weekly.pk, str(weekly.run_id))


# --- Starting reports


def request_report(
    kind: str, period_start: date, *, force: bool = False, retry_failed: bool = False
) -> tuple[Report, bool]:
    """Create the report if needed and start a run; returns (report, started).

    A report that is running or done is left alone unless `force` (a failed one
    also with `retry_failed`). The run and its build message commit together
    (outbox): with Redis down the relay sends the build later.
    """
    with transaction.atomic():
        report, run_id = runs.start_run(kind, period_start, force=force, retry_failed=retry_failed)
        if run_id is not None:
            outbox.enqueue_on_commit(build_report, report.pk, str(run_id))
    return report, run_id is not None


def catch_up(days: int, until: date | None = None) -> list[Report]:
    """Start every missing (or failed) daily report of the last `days` days and the weeks they complete."""
    last = until or today() - timedelta(days=1)
    started = []
    for offset in range(days):
        day = last - timedelta(days=offset)
        report, ok = request_report(Report.Kind.DAILY, day, retry_failed=True)
        if ok:
            started.append(report)
    monday = week_start(last + timedelta(days=1)) - timedelta(days=7)
    while monday >= last - timedelta(days=days - 1):
        report, ok = request_report(Report.Kind.WEEKLY, monday, retry_failed=True)
        if ok:
            started.append(report)
        monday -= timedelta(days=7)
    return started


def reconcile(older_than_s: float | None = None) -> list[Report]:
    """Restart, as new runs, the reports running for longer than `older_than_s` (default REPORTS_STUCK_AFTER_S).

    A new run id makes any message of the old run that still turns up do nothing,
    so the restarted report is merged exactly once.
    """
    seconds = settings.REPORTS_STUCK_AFTER_S if older_than_s is None else older_than_s
    cutoff = timezone.now() - timedelta(seconds=seconds)
    restarted = []
    for report in runs.stuck(cutoff):
        with transaction.atomic():
            run_id = runs.restart(report, cutoff)
            if run_id is not None:
                outbox.enqueue_on_commit(build_report, report.pk, str(run_id))
        if run_id is not None:
            logger.warning(
                "Report %s (%s) was running since %s; restarted as run %s", report.pk, report, report.started_at, run_id
            )
            restarted.append(report)
    return restarted
