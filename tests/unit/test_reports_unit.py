"""Reports without Redis or processes: the figures' arithmetic, periods, and run bookkeeping in the database.

On-commit callbacks never run inside the `db` fixture's transaction, so nothing
here reaches Redis: a requested run shows up as its outbox row.
"""

import math
import random
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone

from dramaturg.models import OutboxMessage
from reports import metrics, runs
from reports.checks import slowest_run_s, stuck_deadline
from reports.management.commands.run_report import seconds
from reports.models import Report, ReportChunk
from reports.periods import day_bounds, week_days, week_start
from reports.tasks import _wake_weekly, compute_chunk, reconcile, request_report

SEOUL = ZoneInfo("Asia/Seoul")


def part(signups=0, sent=0, failed=0, delays=None, logins=0, active=0, cohort=0, retained=0, hour=0):
    by_hour = [0] * 24
    by_hour[hour] = signups
    return {
        "signups": signups,
        "signups_by_hour": by_hour,
        "emails": {"sent": sent, "failed": failed, "pending": signups - sent - failed},
        "delay_histogram": {str(k): v for k, v in (delays or {}).items()},
        "logins": logins,
        "active_users": active,
        "logins_by_hour": [logins] + [0] * 23,
        "retention": {"cohort_day": "2026-03-01", "cohort": cohort, "retained": retained},
        "users_scanned": 10,
    }


# --- metrics


def test_nearest_rank_matches_the_definition_on_random_histograms():
    rng = random.Random(7)
    for _ in range(200):
        values = [rng.randrange(0, 50) for _ in range(rng.randrange(1, 40))]
        histogram = {v: values.count(v) for v in set(values)}
        keys = sorted(histogram)
        for percent in (1, 50, 95, 99, 100):
            expected = sorted(values)[math.ceil(percent / 100 * len(values)) - 1]
            assert metrics.nearest_rank(keys, [histogram[k] for k in keys], percent) == expected


def test_nearest_rank_of_nothing_is_none():
    assert metrics.nearest_rank([], [], 50) is None


def test_merge_adds_chunks_and_derives_percentiles_and_rates():
    total = metrics.merge(
        [
            part(signups=3, sent=2, failed=1, delays={1: 1, 5: 1}, logins=4, active=2, cohort=4, retained=1, hour=2),
            part(signups=2, sent=2, delays={3: 2}, logins=1, active=1, cohort=0, retained=0, hour=2),
        ]
    )
    assert total["signups"] == 5 and total["signups_by_hour"][2] == 5
    assert total["emails"] == {"sent": 4, "failed": 1, "pending": 0}
    assert total["delay_histogram"] == {"1": 1, "3": 2, "5": 1}
    assert total["email_delay"] == {"median": 3, "p95": 5, "max": 5}
    assert total["logins"] == 5 and total["active_users"] == 3 and total["logins_by_hour"][0] == 5
    assert total["retention"] == {"cohort": 4, "retained": 1, "rate": 0.25, "cohort_day": "2026-03-01"}
    assert total["users_scanned"] == 20


def test_merge_of_nothing_has_no_percentiles_and_no_rate():
    total = metrics.merge([])
    assert total["signups"] == 0 and total["email_delay"] == {"median": None, "p95": None, "max": None}
    assert total["retention"]["rate"] is None
    assert metrics.merge([part(signups=1)])["retention"]["rate"] is None  # an empty cohort


def test_merging_merged_results_gives_the_same_figures():
    """A weekly summary merges daily results that are themselves merges."""
    parts = [part(signups=i, sent=i, delays={i: i}, cohort=i, retained=i // 2) for i in range(1, 8)]
    once = metrics.merge(parts)
    twice = metrics.merge([metrics.merge(parts[:3]), metrics.merge(parts[3:])])
    for key in ("signups", "emails", "delay_histogram", "email_delay", "retention"):
        assert once[key] == twice[key], key


def test_delay_distribution_buckets_every_email_once():
    histogram = {"0": 1, "9": 2, "10": 3, "59": 1, "1799": 1, "1800": 4, "90000": 1}
    rows = dict(metrics.delay_distribution(histogram))
    assert rows["0-10s"] == 3 and rows["10-30s"] == 3 and rows["30-60s"] == 1 and rows["600-1800s"] == 1
    assert rows["1800s+"] == 5
    assert sum(rows.values()) == sum(histogram.values())


# --- periods


def test_a_day_is_its_local_midnight_to_the_next():
    start, end = day_bounds(date(2026, 3, 1))
    assert start == datetime(2026, 2, 28, 15, 0, tzinfo=ZoneInfo("UTC"))  # 00:00 in Seoul (UTC+9)
    assert end - start == timedelta(days=1) and str(start.tzinfo) == "Asia/Seoul"


def test_a_week_runs_monday_to_sunday():
    assert week_start(date(2026, 3, 1)) == date(2026, 2, 23)  # a Sunday belongs to the week before
    assert week_start(date(2026, 3, 2)) == date(2026, 3, 2)
    days = week_days(date(2026, 3, 2))
    assert len(days) == 7 and days[0].weekday() == 0 and days[-1] == date(2026, 3, 8)


def test_run_report_prints_a_dash_for_a_missing_figure():
    assert seconds(None) == "-" and seconds(0) == "0s" and seconds(12) == "12s"


# --- runs in the database (no Redis: on-commit dispatches do not run inside the test's transaction)


def builds() -> list[list]:
    return [row.args for row in OutboxMessage.objects.filter(actor_name="build_report").order_by("id")]


@pytest.mark.django_db
def test_requesting_a_report_records_its_build_in_the_outbox_once():
    report, started = request_report(Report.Kind.DAILY, date(2026, 3, 1))
    assert started and report.status == "running"
    assert builds() == [[report.pk, str(report.run_id)]]
    again, started = request_report(Report.Kind.DAILY, date(2026, 3, 1))
    assert not started and again.run_id == report.run_id and len(builds()) == 1
    forced, started = request_report(Report.Kind.DAILY, date(2026, 3, 1), force=True)
    assert started and forced.run_id != report.run_id and len(builds()) == 2


@pytest.mark.django_db
def test_a_failed_report_is_retried_only_when_asked():
    report, _ = request_report(Report.Kind.DAILY, date(2026, 3, 1))
    runs.fail(report.pk, str(report.run_id), "boom")
    assert not request_report(Report.Kind.DAILY, date(2026, 3, 1))[1]
    assert request_report(Report.Kind.DAILY, date(2026, 3, 1), retry_failed=True)[1]


@pytest.mark.django_db
def test_a_chunk_counts_once_and_a_run_finishes_once():
    report, _ = request_report(Report.Kind.DAILY, date(2026, 3, 1))
    run_id = str(report.run_id)
    chunk = ReportChunk.objects.create(report=report, run_id=run_id, index=0, first_user_id=1, end_user_id=2)
    Report.objects.filter(pk=report.pk).update(chunks_total=1)
    runs.record_chunk(chunk, part())
    runs.record_chunk(chunk, part())  # redelivered
    assert Report.objects.get(pk=report.pk).chunks_done == 1 and runs.ready_to_merge(report.pk, run_id)
    assert runs.merge_daily(report.pk, run_id) is True
    assert runs.merge_daily(report.pk, run_id) is False
    report.refresh_from_db()
    assert report.status == "done" and report.merge_runs == 1 and report.result["retention"]["cohort_day"]


@pytest.mark.django_db
def test_reconcile_restarts_a_stuck_run_as_a_new_run_once():
    report, _ = request_report(Report.Kind.DAILY, date(2026, 3, 1))
    old_run = str(report.run_id)
    fresh, _ = request_report(Report.Kind.DAILY, date(2026, 3, 2))
    Report.objects.filter(pk=report.pk).update(started_at=timezone.now() - timedelta(hours=5))
    assert reconcile() == [report]  # REPORTS_STUCK_AFTER_S: 4 hours by default
    report.refresh_from_db()
    assert report.status == "running" and str(report.run_id) != old_run
    assert builds()[-1] == [report.pk, str(report.run_id)]
    assert reconcile() == []  # just restarted: not stuck
    # A message of the replaced run does nothing.
    ReportChunk.objects.create(report=report, run_id=old_run, index=0, first_user_id=1, end_user_id=2)
    compute_chunk.fn(report.pk, old_run, 0)
    assert not ReportChunk.objects.get(run_id=old_run).done
    assert {r.pk for r in reconcile(0)} == {report.pk, fresh.pk}


@pytest.mark.django_db
def test_restart_leaves_a_run_that_moved_on():
    report, _ = request_report(Report.Kind.DAILY, date(2026, 3, 1))
    cutoff = timezone.now() + timedelta(seconds=1)
    runs.finish(report.pk, str(report.run_id), metrics.merge([]))
    assert runs.restart(report, cutoff) is None
    other, _ = request_report(Report.Kind.DAILY, date(2026, 3, 2))
    stale = Report.objects.get(pk=other.pk)
    Report.objects.filter(pk=other.pk).update(run_id=uuid.uuid4())  # someone restarted it first
    assert runs.restart(stale, cutoff) is None


@pytest.mark.django_db
def test_the_end_of_a_daily_wakes_the_weekly_waiting_for_it():
    weekly, _ = request_report(Report.Kind.WEEKLY, date(2026, 3, 2))
    daily, _ = request_report(Report.Kind.DAILY, date(2026, 3, 4))
    other_week, _ = request_report(Report.Kind.DAILY, date(2026, 3, 10))
    _wake_weekly(daily.pk, str(daily.run_id))
    assert len(builds()) == 3  # still running: nothing to wake
    for report in (daily, other_week):
        runs.finish(report.pk, str(report.run_id), metrics.merge([]))
        _wake_weekly(report.pk, str(report.run_id))
    assert builds()[3:] == [[weekly.pk, str(weekly.run_id)]]


# --- the stuck-run deadline


def test_the_default_stuck_deadline_outlasts_the_slowest_run():
    assert stuck_deadline() == []


@override_settings(
    REPORTS_STUCK_AFTER_S=3600, DRAMATURG={"RETRIES": {"MIN_BACKOFF_MS": 15_000, "MAX_BACKOFF_MS": 3_600_000}}
)
def test_a_stuck_deadline_shorter_than_a_legitimate_run_is_flagged():
    # build 6 x 10 min, chunk 4 x 5 min, merge 6 x 5 min, and each one's longest backoffs
    assert slowest_run_s() == 110 * 60 + 2 * 15 * (62 + 14 + 62)
    [warning] = stuck_deadline()
    assert warning.id == "reports.W001" and "REPORTS_STUCK_AFTER_S (3600s)" in warning.msg
