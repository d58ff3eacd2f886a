"""Reports lose nothing: real worker, relay and `manage.py` processes on a redis-server the test stops and restarts."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command

from dramaturg.models import OutboxMessage
from harness.processes import ManagedProcess, RedisServer, WorkerProcess, child_env, stop_all, wait_for
from reports.models import Report
from reports.periods import today

pytestmark = [pytest.mark.integration]


class ReportStack:
    """Report workers, the outbox relay and one-off commands, all on a Redis server of the test's own."""

    def __init__(self, redis_server: RedisServer):
        self.redis = redis_server
        self.env = child_env(REDIS_URL=redis_server.url, DRAMATIQ_NAMESPACE="fault-reports")
        self.processes: list[ManagedProcess] = []

    def _start(self, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process)
        return process.start()

    def worker(self) -> ManagedProcess:
        return self._start(WorkerProcess(self.env, processes=1, threads=4, queues=["reports"]))

    def relay(self) -> ManagedProcess:
        return self._start(
            ManagedProcess(["run_outbox_relay", "--interval", "0.2"], self.env, b"Outbox relay started", "relay")
        )

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def stop(self) -> None:
        stop_all(self.processes)


@pytest.fixture
def day(transactional_db):
    call_command("seed_demo", users=200, days=10, seed=3)
    return today() - timedelta(days=3)


def stack_on(redis_server: RedisServer):
    stack = ReportStack(redis_server.start())
    try:
        yield stack
    finally:
        stack.stop()
        redis_server.kill()


@pytest.fixture
def stack(tmp_path, django_db_blocker):
    with django_db_blocker.unblock():
        yield from stack_on(RedisServer(tmp_path / "redis"))


@pytest.fixture
def volatile_stack(tmp_path, django_db_blocker):
    """On a Redis without persistence: a restart loses every queued message."""
    with django_db_blocker.unblock():
        yield from stack_on(RedisServer(tmp_path / "redis", appendonly=False))


def wait_done(report: Report, timeout: float = 90) -> Report:
    wait_for(lambda: Report.objects.get(pk=report.pk).status in ("done", "failed"), timeout, what=f"{report}")
    return Report.objects.get(pk=report.pk)


def test_report_requested_while_redis_is_down_completes_once_redis_returns(stack, day):
    stack.worker()
    stack.relay()
    stack.redis.stop()
    out = stack.manage("run_report", "daily", "--date", day.isoformat())
    assert "enqueued" in out
    report = Report.objects.get(kind="daily", period_start=day)
    assert report.status == "running"
    [row] = OutboxMessage.objects.filter(actor_name="build_report")
    assert row.dispatched_at is None and row.args == [report.pk, str(report.run_id)]  # kept for the relay
    stack.redis.start()
    report = wait_done(report)
    assert report.status == "done", report.error
    assert report.merge_runs == 1 and report.chunks_done == report.chunks_total > 1
    assert report.result["signups"] > 0
    assert OutboxMessage.objects.get(actor_name="build_report").dispatched_at is not None  # by the relay


def test_running_report_whose_messages_were_lost_is_restarted_by_the_reconciler(volatile_stack, day):
    stack = volatile_stack
    stack.manage("run_report", "daily", "--date", day.isoformat())  # no worker yet: the build waits in Redis
    report = Report.objects.get(kind="daily", period_start=day)
    lost_run = report.run_id
    wait_for(lambda: OutboxMessage.objects.filter(dispatched_at__isnull=False).count() == 1, what="the dispatch")
    stack.redis.stop()
    stack.redis.start()  # without persistence: the queued build is gone
    stack.worker()
    assert "0 stuck report(s) restarted" in stack.manage("reconcile_reports")  # not stuck for hours yet
    assert Report.objects.get(pk=report.pk).status == "running"
    out = stack.manage("reconcile_reports", "--older-than", "0")
    assert f"restarted {report}" in out and "1 stuck report(s) restarted" in out
    report = wait_done(report)
    assert report.status == "done", report.error
    assert report.run_id != lost_run and report.merge_runs == 1
    assert report.chunks_done == report.chunks_total > 1
