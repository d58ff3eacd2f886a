"""Reports: seeded data, real worker processes, figures checked against a straightforward computation."""

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client

from accounts.models import EmailDelivery, LoginEvent, User
from dramaturg.periodic import next_run
from dramaturg.store import dead_letters, queues, stats
from dramaturg.store.filters import MessageFilter
from harness import store_probe
from harness.processes import SchedulerProcess, child_env, wait_for
from reports.models import Report, ReportChunk
from reports.periods import day_bounds, today, week_start
from reports.runs import plan_chunks
from reports.tasks import (
    compute_chunk,
    reconcile_reports,
    request_report,
    schedule_daily_report,
    schedule_weekly_report,
)

pytestmark = [pytest.mark.integration]
SEOUL = ZoneInfo("Asia/Seoul")


def nearest_rank(values: list[int], percent: float):
    return sorted(values)[math.ceil(percent / 100 * len(values)) - 1] if values else None


def expected_daily(day) -> dict:
    """The figures computed plainly in Python from every row."""
    start, end = day_bounds(day)
    users = list(User.objects.all())
    joined = [u for u in users if start <= u.date_joined < end]
    joined_ids = {u.pk for u in joined}
    deliveries = {d.user_id: d for d in EmailDelivery.objects.filter(user_id__in=joined_ids)}
    sent = [d for d in deliveries.values() if d.status == "sent"]
    failed = [d for d in deliveries.values() if d.status == "failed"]
    by_id = {u.pk: u for u in users}
    delays = [
        round((d.sent_at - by_id[d.user_id].date_joined).total_seconds() * 1000) // 1000 for d in sent if d.sent_at
    ]
    logins = [e for e in LoginEvent.objects.all() if start <= e.at < end]
    cohort_start, cohort_end = day_bounds(day - timedelta(days=7))
    window_start, _ = day_bounds(day - timedelta(days=6))
    cohort = [u for u in users if cohort_start <= u.date_joined < cohort_end]
    came_back = {e.user_id for e in LoginEvent.objects.all() if window_start <= e.at < end}
    retained = [u for u in cohort if u.pk in came_back]
    return {
        "signups": len(joined),
        "signups_by_hour": [sum(1 for u in joined if u.date_joined.astimezone(SEOUL).hour == h) for h in range(24)],
        "emails": {"sent": len(sent), "failed": len(failed), "pending": len(joined) - len(sent) - len(failed)},
        "email_delay": {
            "median": nearest_rank(delays, 50),
            "p95": nearest_rank(delays, 95),
            "max": max(delays) if delays else None,
        },
        "logins": len(logins),
        "active_users": len({e.user_id for e in logins}),
        "logins_by_hour": [sum(1 for e in logins if e.at.astimezone(SEOUL).hour == h) for h in range(24)],
        "retention": {
            "cohort": len(cohort),
            "retained": len(retained),
            "rate": round(len(retained) / len(cohort), 4) if cohort else None,
        },
    }


def assert_figures(report: Report, day) -> None:
    expected = expected_daily(day)
    result = report.result or {}
    for key in ("signups", "signups_by_hour", "emails", "email_delay", "logins", "active_users", "logins_by_hour"):
        assert result[key] == expected[key], key
    for key in ("cohort", "retained", "rate"):
        assert result["retention"][key] == expected["retention"][key], key
    assert result["signups"] > 0 and result["logins"] > 0 and result["retention"]["cohort"] > 0


def wait_done(report: Report, timeout: float = 60) -> Report:
    wait_for(lambda: Report.objects.get(pk=report.pk).status in ("done", "failed"), timeout, what=f"{report}")
    return Report.objects.get(pk=report.pk)


@pytest.fixture
def seeded(live):
    call_command("seed_demo", users=240, days=16, seed=5)
    return today() - timedelta(days=4)


def test_daily_report_matches_a_straightforward_computation(seeded, start_worker, clean_redis):
    start_worker(["reports"], processes=2, threads=2)
    report, started = request_report(Report.Kind.DAILY, seeded)
    assert started
    report = wait_done(report)
    assert report.status == "done", report.error
    assert report.chunks_total == ReportChunk.objects.filter(report=report).count() > 4
    assert report.chunks_done == report.chunks_total and report.merge_runs == 1
    assert_figures(report, seeded)


def test_duplicate_chunk_messages_count_once_and_merge_once(seeded, start_worker, clean_redis):
    report, _ = request_report(Report.Kind.DAILY, seeded)  # its build message is queued; no worker yet
    # Every chunk is also sent twice by hand; the build sends each a third time.
    chunks = plan_chunks(report, str(report.run_id))
    for chunk in chunks:
        for _ in range(2):
            compute_chunk.send(report.pk, str(report.run_id), chunk.index)
    assert queues.queue_counts("reports").ready == 1 + 2 * len(chunks)
    start_worker(["reports"], processes=1, threads=4)
    report = wait_done(report)
    wait_for(
        lambda: queues.queue_counts("reports") == queues.QueueCounts("reports", 0, 0, 0, 0),
        what="every duplicate to be processed",
    )
    report.refresh_from_db()
    assert report.status == "done" and report.merge_runs == 1 and report.chunks_done == report.chunks_total
    assert_figures(report, seeded)


def test_a_chunk_that_always_fails_marks_the_report_failed(seeded, start_worker, clean_redis):
    start_worker(["reports"], TEST_FAIL_CHUNKS="1")  # tests.middleware.FailChosenChunks
    report, _ = request_report(Report.Kind.DAILY, seeded)
    report = wait_done(report)
    assert report.status == "failed"
    assert "chunk 1 failed after 3 retries: tests.middleware.InjectedFailure: chunk 1 fails on purpose" in report.error
    wait_for(lambda: store_probe.count_dead("reports") == 1, what="the chunk in the dead-letter set")
    [dead] = dead_letters.page_dead(MessageFilter(queue="reports")).messages
    assert dead.actor_name == "compute_chunk" and dead.exception_type == "InjectedFailure"


def test_run_report_command_waits_and_prints_the_summary(seeded, start_worker, clean_redis, capsys):
    start_worker(["reports"])
    call_command("run_report", "daily", "--date", seeded.isoformat(), "--wait", "--timeout", "60")
    out = capsys.readouterr().out
    assert "done in" in out and "signups" in out and "7-day retention" in out
    call_command("run_report", "daily", "--date", seeded.isoformat())
    assert "already done (use --force to rerun)" in capsys.readouterr().out
    assert Report.objects.count() == 1


def test_run_report_waits_and_prints_dashes_for_figures_a_day_without_emails_lacks(
    transactional_db, start_worker, clean_redis, capsys
):
    start_worker(["reports"])
    call_command("run_report", "daily", "--date", "2020-01-01", "--wait", "--timeout", "60")
    out = capsys.readouterr().out
    assert "email delay median -, p95 -, max -" in out and "None" not in out


def test_weekly_summary_adds_up_its_seven_daily_reports(seeded, start_worker, clean_redis):
    worker = start_worker(["reports"], processes=2, threads=2)
    monday = week_start(seeded) - timedelta(days=7)
    weekly, _ = request_report(Report.Kind.WEEKLY, monday)
    weekly = wait_done(weekly, timeout=90)
    assert weekly.status == "done", weekly.error
    dailies = Report.objects.filter(kind="daily", period_start__gte=monday, period_start__lt=monday + timedelta(7))
    assert dailies.count() == 7 and all(d.status == "done" for d in dailies)
    assert weekly.result["signups"] == sum(d.result["signups"] for d in dailies) > 0
    assert weekly.result["logins"] == sum(d.result["logins"] for d in dailies)
    assert [d["day"] for d in weekly.result["days"]] == [str(monday + timedelta(i)) for i in range(7)]
    assert weekly.merge_runs == 1
    # Waiting for the dailies is not a failed attempt: the dashboard counts none.
    worker.stop()  # publishes its last statistics
    totals = stats.totals()
    assert totals["processed"] > 0 and totals["failed"] == 0, totals


def test_weekly_fails_when_one_of_its_dailies_fails(seeded, start_worker, clean_redis):
    start_worker(["reports"], processes=1, threads=4, TEST_FAIL_CHUNKS="0")
    monday = week_start(seeded) - timedelta(days=7)
    weekly = wait_done(request_report(Report.Kind.WEEKLY, monday)[0], timeout=90)
    assert weekly.status == "failed"
    assert "the daily report of" in weekly.error and "chunk 0 fails on purpose" in weekly.error


def test_two_scheduler_processes_make_one_report(seeded, start_worker, clean_redis):
    """Both schedulers send the daily job at the same minute (cron every minute here); one report results."""
    start_worker(["reports"], processes=1, threads=2)
    env = child_env(REPORTS_DAILY_CRON="* * * * *")
    schedulers = [SchedulerProcess(env).start(), SchedulerProcess(env).start()]
    try:
        yesterday = today() - timedelta(days=1)
        wait_for(
            lambda: all("Scheduling" in s.log_text() and "schedule_daily_report" in s.log_text() for s in schedulers),
            timeout=75,
            interval=0.5,
            what="both schedulers to fire",
        )
        # The scheduler only sends the job: the report exists once a worker has run it.
        report = wait_done(
            wait_for(
                lambda: Report.objects.filter(kind="daily", period_start=yesterday).first(),
                what="the scheduled report to be created",
            )
        )
    finally:
        for scheduler in schedulers:
            scheduler.stop()
    assert report.status == "done" and report.merge_runs == 1
    assert Report.objects.filter(kind="daily").count() == 1


def test_catch_up_starts_what_is_missing_once(seeded, start_worker, clean_redis):
    call_command("catch_up_reports", "--days", "3")
    assert Report.objects.filter(kind="daily").count() == 3
    call_command("catch_up_reports", "--days", "3")
    assert Report.objects.filter(kind="daily").count() == 3
    start_worker(["reports"], processes=2, threads=2)
    wait_for(lambda: not Report.objects.exclude(status="done").exists(), timeout=60, what="caught-up reports")


def test_schedule_next_runs_across_the_day_boundary_in_seoul():
    def at(text):
        return datetime.fromisoformat(text)

    daily, weekly = schedule_daily_report, schedule_weekly_report
    assert next_run(daily, at("2026-03-01T01:59:30+09:00")) == at("2026-03-01T02:00:00+09:00")
    assert next_run(daily, at("2026-03-01T02:00:00+09:00")) == at("2026-03-02T02:00:00+09:00")
    # 17:30 UTC on Feb 28 is already 02:30 on Mar 1 in Seoul: the next run is Mar 2, 02:00 KST.
    assert next_run(daily, at("2026-02-28T17:30:00+00:00")) == at("2026-03-02T02:00:00+09:00")
    assert next_run(daily, at("2026-02-28T16:59:00+00:00")) == at("2026-03-01T02:00:00+09:00")
    assert next_run(weekly, at("2026-03-01T23:59:00+09:00")) == at("2026-03-02T03:00:00+09:00")  # Sun -> Mon
    assert next_run(weekly, at("2026-03-02T03:00:30+09:00")) == at("2026-03-09T03:00:00+09:00")
    assert str(next_run(daily, at("2026-03-01T12:00:00+09:00")).tzinfo) == "Asia/Seoul"
    assert next_run(reconcile_reports, at("2026-03-01T23:58:10+09:00")) == at("2026-03-02T00:00:00+09:00")


def test_logins_are_recorded_by_the_signal(client, db, clean_redis):
    User.objects.create_user("walker@example.com", "correct-horse-battery-staple")
    # django-axes (the sign-in throttle) needs the request authenticate() is given.
    assert client.login(request=HttpRequest(), email="walker@example.com", password="correct-horse-battery-staple")
    assert LoginEvent.objects.filter(user__email="walker@example.com").count() == 1


def test_admin_run_again_recomputes_a_done_report(seeded, start_worker, clean_redis):
    from django.test import Client

    start_worker(["reports"])
    report = wait_done(request_report(Report.Kind.DAILY, seeded)[0])
    first_run = report.run_id
    [admin] = User.objects.bulk_create([User(email="boss@example.com", is_staff=True, is_superuser=True)])
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/reports/report/", {"action": "run_again", "_selected_action": [report.pk]}, follow=True
    )
    assert b"1 report enqueued again." in response.content
    report = wait_done(report)
    assert report.status == "done" and report.run_id != first_run and report.merge_runs == 2
    assert_figures(report, seeded)


def test_report_workflow_shows_chunks_states_and_dead_letters(staff, start_worker, clean_redis, smtp):
    """A report run's workflow page (the console's dead letters linked from it), for a staff user."""
    User.objects.bulk_create([User(email=f"wf{n}@example.com") for n in range(100)])  # 3 chunks of 40
    start_worker(["reports"], TEST_FAIL_CHUNKS="1")
    report, _ = request_report(Report.Kind.DAILY, today() - timedelta(days=1))
    wait_for(lambda: Report.objects.get(pk=report.pk).status == "failed", timeout=60, what="the report to fail")
    ops = Client()
    ops.force_login(staff)
    html = ops.get(f"/reports/{report.pk}/run/").content.decode()
    assert 'id="chunks-done">2<' in html and 'id="chunks-total">3<' in html
    assert 'data-chunk="0" data-state="done"' in html and 'data-chunk="2" data-state="done"' in html
    assert 'data-chunk="1" data-state="dead"' in html and "dead letter</a>" in html
    assert ops.get("/reports/999999/run/").status_code == 404
    assert f"/reports/{report.pk}/run/" in ops.get(f"/reports/{report.pk}/").content.decode()  # linked from the report
    assert stats.totals().get("dead", 0) >= 1
