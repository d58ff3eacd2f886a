"""Redis behind Sentinel: the primary is SIGKILLed under a stream of signups; the sentinels promote the
replica and web, worker, relay and scheduler follow it without a restart. Nothing answers 5xx, and once
the reconciler has run every email has arrived exactly once."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import redis
from django.conf import settings

from accounts.models import EmailDelivery
from dramaturg.models import OutboxMessage
from dramaturg.redis_connection import parse_sentinels, sentinel_client
from harness.processes import ManagedProcess, SchedulerProcess, WorkerProcess, child_env, stop_all, wait_for
from harness.redis_ha import SERVICE, SentinelGroup
from harness.smtp_sink import free_port
from tests.signup_flow import SignupFlow

pytestmark = [pytest.mark.integration]
NAMESPACE = "ha"


@pytest.fixture
def ha(tmp_path):
    group = SentinelGroup(tmp_path / "ha").start()
    yield group
    group.stop()


@pytest.fixture
def processes():
    started: list[ManagedProcess] = []
    yield started
    stop_all(started)


def unacked_users(client: redis.Redis) -> list[int]:
    """The users whose welcome-email messages sit in a worker's unacked set."""
    users = []
    for key in client.scan_iter(f"{NAMESPACE}:__acks__.*.emails"):
        for redis_id in client.smembers(key):
            body = client.hget(f"{NAMESPACE}:emails.msgs", redis_id)
            message = json.loads(body) if body else {}
            # Other actors share the queue (the reconciler, the reset decision): only welcome emails count.
            if message.get("actor_name") == "send_welcome_email":
                users.append(message["args"][0])
    return users


def drained(client: redis.Redis) -> bool:
    """Nothing of the emails queue left: none ready, none delayed, none in a worker's unacked set.
    (An ack the old primary took in the replication window is lost with it: the new master still
    lists that message as fetched by the live worker, although its email is sent. The worker's
    consumer finds it in its ack set but not in its hands and puts it back; it runs again and sends
    nothing.)"""
    try:
        waiting = client.llen(f"{NAMESPACE}:emails") + client.hlen(f"{NAMESPACE}:emails.DQ.msgs")
        return waiting == 0 and not unacked_users(client)
    except redis.RedisError:
        return False


def test_primary_killed_sentinels_promote_the_replica_and_every_email_arrives_once(
    ha, processes, smtp, transactional_db
):
    env = child_env(
        # Under Sentinel REDIS_URL gives only the database (and credentials): its host is never dialled.
        REDIS_SENTINELS=ha.sentinels_setting,
        REDIS_SENTINEL_MASTER=SERVICE,
        REDIS_URL="redis://sentinel-managed/0",
        DRAMATIQ_NAMESPACE=NAMESPACE,
        EMAIL_URL=smtp.url,
        DRAMATIQ_HEARTBEAT_TIMEOUT_MS="3000",
        DRAMATIQ_STRAY_CHECK_INTERVAL_MS="1000",
        EMAIL_TIME_LIMIT_MS="8000",
        EMAIL_SEND_LEASE_S="3",
    )
    port = free_port()
    for process in [
        ManagedProcess(["runserver", f"127.0.0.1:{port}", "--noreload"], env, b"Quit the server", "ha-web"),
        WorkerProcess(env, threads=2, queues=["emails"]),
        ManagedProcess(["run_outbox_relay", "--interval", "0.2"], env, b"Outbox relay started", "ha-relay"),
        SchedulerProcess(env),
    ]:
        processes.append(process)
        process.start()
    web, worker, relay, scheduler = processes
    master = sentinel_client(parse_sentinels(ha.sentinels_setting), SERVICE)

    flow = SignupFlow(f"http://127.0.0.1:{port}", "ha").start()
    try:
        wait_for(lambda: len(smtp.received()) >= 5, 30, what="the first emails through Sentinel")

        # Widen the asynchronous-replication window, as a lagging replica would: the replica stalls
        # (SIGSTOP) and loses its link, so what the primary now accepts exists on the primary only.
        # The mail server is slow meanwhile, so the worker's threads are busy and those jobs stay queued.
        smtp.handler.rcpt_delay = 2.0
        ha.replica.signal(signal.SIGSTOP)
        ha.primary.client().client_kill_filter(_type="replica")
        # Briefly (well under down-after-milliseconds): a replica the sentinels see as down is not promoted.
        window_ends, in_window = time.monotonic() + 0.6, flow.count()
        while flow.count() < in_window + 12 and time.monotonic() < window_ends:
            time.sleep(0.01)
        killed_at = time.monotonic()
        ha.primary.kill()
        ha.replica.signal(signal.SIGCONT)
        smtp.handler.rcpt_delay = 0.0

        promoted_at = ha.wait_for_promotion()
        after_promotion = flow.count()
        wait_for(lambda: flow.count() >= after_promotion + 15, 30, what="signups after the failover")
    finally:
        flow.stop()
    answers = flow.snapshot()
    accepted = {a.email for a in answers if a.status == 202}

    # Everything the web accepted is dispatched (some by the relay), and the queue drains on the new master.
    wait_for(
        lambda: not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists(),
        30,
        what="the relay to dispatch what the failover held up",
    )
    wait_for(lambda: drained(master), 60, what="the emails queue to drain on the new master")
    owed = EmailDelivery.objects.exclude(status="sent").count()
    acks_lost = sum(
        int(n) for n in re.findall(r"Put (\d+) message\(s\) back on 'emails' that were in", worker.log_text())
    )

    result = subprocess.run(
        [sys.executable, "manage.py", "reconcile_deliveries", "--older-than", "0"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    recovered = int(re.search(r"Re-enqueued (\d+)", result.stdout).group(1))

    wait_for(lambda: {m["To"] for m in smtp.received()} >= accepted, 60, what="every accepted signup's email")
    wait_for(lambda: drained(master), 30, what="the reconciled jobs to finish")
    received = Counter(m["To"] for m in smtp.received())

    waited = OutboxMessage.objects.filter(attempts__gt=0).count()
    outage = [a for a in answers if a.at + a.seconds >= killed_at and a.at <= promoted_at]
    slowest = max(a.seconds for a in answers)
    print(
        f"\nSentinel failover: primary SIGKILLed -> replica promoted in {promoted_at - killed_at:.2f} s "
        f"(down-after {ha.down_after_ms} ms); {len(answers)} signups, {len(outage)} during the failover, "
        f"slowest answer {slowest * 1000:.0f} ms; {waited} signup(s) waited for the relay (after-commit "
        f"dispatch failed); {owed} job(s) lost in the replication window, {recovered} re-enqueued by the "
        f"reconciler; {acks_lost} ack(s) lost with it (put back by the live worker, run again, nothing sent); "
        f"{len(received)} emails, {sum(received.values()) - len(received)} duplicates"
    )

    assert not [a for a in answers if a.status >= 500 or a.status == 0], "no signup failed"
    assert {a.status for a in answers} == {202}
    assert recovered == owed
    assert set(received) == accepted and set(received.values()) == {1}, "every email exactly once"
    assert EmailDelivery.objects.exclude(status="sent").count() == 0
    for process in (web, worker, relay, scheduler):
        assert process.proc.poll() is None, f"{process.command} carried on:\n{process.log_tail()}"
    # The worker met the outage and carried on against the promoted replica (no restart).
    assert master.connection_pool.get_master_address()[1] == ha.replica.port
