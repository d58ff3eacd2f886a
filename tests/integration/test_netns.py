"""Worker hosts on separate network hosts: the web process and two worker hosts each in a network namespace
of its own, talking to Redis over veth links. One worker host is cut off mid-job (link down): its jobs come
back on the other host after the heartbeat timeout, every email arrives once, and the dashboard lists both
hosts with the cut-off one lost."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from typing import cast

import pytest
from django.db import connection
from django.test import Client

from accounts.models import User
from dramaturg.models import OutboxMessage
from harness.http import post_json
from harness.netns import Lan, LanSmtpSink, unavailable_reason
from harness.processes import ManagedProcess, RedisServer, WorkerProcess, child_env, stop_all, wait_for
from harness.smtp_sink import free_port
from tests.signup_flow import PASSWORD

pytestmark = [pytest.mark.integration]
HEARTBEAT_TIMEOUT_MS = 3000
SIGNUPS = 10


@pytest.fixture
def lan(tmp_path):
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"worker hosts on separate network namespaces: {reason}")
    if connection.vendor != "sqlite":
        pytest.skip(
            "the namespaces reach the test database through its SQLite file; a database server on "
            "loopback is out of their reach"
        )
    network = Lan(["web", "host-a", "host-b"])
    started: list[ManagedProcess] = []
    servers: list = []
    try:
        network.up()
        yield network, started, servers
    finally:
        stop_all(started)  # killed: the cut-off host cannot finish a graceful shutdown
        for server in servers:
            server.stop()
        network.down()


def in_host(host, process: ManagedProcess) -> ManagedProcess:
    process.args = host.command(process.args)
    return process


def overview(url: str, session: str) -> dict:
    """The dashboard's /jobs/overview.json from the real web process, as a logged-in operator."""
    request = urllib.request.Request(f"{url}/jobs/overview.json", headers={"Cookie": f"sessionid={session}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def by_host(data: dict) -> dict[str, dict]:
    return {w["host"]: w for w in data["workers"]}


def test_a_worker_host_cut_off_mid_job_its_jobs_finish_on_the_other_host_once(lan, tmp_path, transactional_db):
    network, started, servers = lan
    hosts = network.hosts
    # Bound to loopback and the LAN address only (not 0.0.0.0): no other interface hears it.
    redis_server = RedisServer(
        tmp_path / "redis", "--protected-mode", "no", appendonly=False, bind=("127.0.0.1", network.gateway)
    ).start()
    servers.append(redis_server)
    smtp = LanSmtpSink(network.gateway)
    smtp.start()
    servers.append(smtp)
    env = child_env(
        REDIS_URL=f"redis://{network.gateway}:{redis_server.port}/0",
        DRAMATIQ_NAMESPACE="lan",
        EMAIL_URL=smtp.url,
        DRAMATIQ_HEARTBEAT_TIMEOUT_MS=str(HEARTBEAT_TIMEOUT_MS),
        DRAMATIQ_MAINTENANCE_INTERVAL_MS="500",
        EMAIL_TIME_LIMIT_MS="8000",
        EMAIL_SEND_LEASE_S="3",
        EMAIL_TIMEOUT_S="3",
        ALLOWED_HOSTS=hosts["web"].address,
    )
    port = free_port()
    web_url = f"http://{hosts['web'].address}:{port}"
    for host, process in [
        (
            hosts["web"],
            ManagedProcess(
                ["runserver", f"{hosts['web'].address}:{port}", "--noreload"], env, b"Quit the server", "lan-web"
            ),
        ),
        (hosts["host-a"], WorkerProcess(env, threads=2, queues=["emails"])),
        (hosts["host-b"], WorkerProcess(env, threads=2, queues=["emails"])),
    ]:
        started.append(in_host(host, process))
        process.start()
    worker_b = started[2]

    operator = Client()
    operator.force_login(
        User.objects.create_user("ops@example.com", "ops-password-123", is_staff=True, is_superuser=True)
    )
    session = operator.cookies["sessionid"].value
    wait_for(
        lambda: {"host-a", "host-b"} <= set(by_host(overview(web_url, session))),
        20,
        what="both worker hosts on the dashboard",
    )

    smtp.handler.rcpt_delay = 3.0  # every send is under way for a while: both hosts are mid-job
    emails = [f"lan{n}@example.com" for n in range(SIGNUPS)]
    for email in emails:
        status, body, _ = post_json(f"{web_url}/api/signup/", {"email": email, "password": PASSWORD})
        assert status == 202, body

    def b_running() -> list[dict]:
        return by_host(overview(web_url, session))["host-b"]["running"]

    running_on_b = cast(list[dict], wait_for(b_running, 20, interval=0.05, what="host-b to be mid-job"))
    cut_at = time.monotonic()
    hosts["host-b"].cut()
    smtp.handler.rcpt_delay = 0.0
    b_users = {OutboxMessage.objects.get(message_id=job["message_id"]).args[0] for job in running_on_b}
    b_emails = set(User.objects.filter(pk__in=b_users).values_list("email", flat=True))

    def b_lost() -> bool:
        workers = by_host(overview(web_url, session))
        return workers["host-b"]["state"] == "lost" and workers["host-a"]["state"] == "alive"

    wait_for(b_lost, 20, interval=0.1, what="the dashboard to mark host-b lost")
    lost_after = time.monotonic() - cut_at
    wait_for(
        lambda: {m["To"] for m in smtp.received()} >= b_emails,
        60,
        interval=0.1,
        what="host-b's jobs to finish on host-a",
    )
    recovered_after = time.monotonic() - cut_at
    wait_for(lambda: {m["To"] for m in smtp.received()} >= set(emails), 60, what="every email")
    # Anything still in flight would show as running on host-a; wait until nothing is.
    wait_for(lambda: not by_host(overview(web_url, session))["host-a"]["running"], 30, what="host-a to be idle")
    received = Counter(m["To"] for m in smtp.received())
    workers = by_host(overview(web_url, session))

    print(
        f"\nWorker host cut off mid-job ({len(running_on_b)} job(s) running on host-b): dashboard marked it "
        f"lost after {lost_after:.1f} s (heartbeat timeout {HEARTBEAT_TIMEOUT_MS / 1000:.0f} s); its emails "
        f"sent from host-a {recovered_after:.1f} s after the cut; {len(received)} emails for {SIGNUPS} "
        f"signups, {sum(received.values()) - len(received)} duplicates"
    )

    assert set(received) == set(emails) and set(received.values()) == {1}, "every email exactly once"
    assert workers["host-b"]["state"] == "lost" and workers["host-b"]["running"] == []
    assert workers["host-a"]["state"] == "alive"
    assert worker_b.proc.poll() is None, "host-b's worker is cut off, not dead"
