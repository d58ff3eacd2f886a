"""Workers on the console (issue 21): each worker's threads and what each thread runs now, and a graceful
"stop taking work" for one worker: its consumers fetch nothing while it is quiet (real Redis, the broker's
own consumer), and fetch again once it may take work; both confirmed and audited."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq import Message, get_broker

from dramaturg.models import AuditEntry
from dramaturg.store import control, keys, stats
from dramaturg.store.connection import client as redis_client
from dramaturg.timeutil import now_ms
from harness.fixtures import FAKE_HOST
from harness.processes import wait_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_workers")]

QUEUE = "features-quiet"


def _register(worker_id: str, running: dict[str, dict] | None = None) -> None:
    """A worker's publish (as JobStats sends it once a second): its registration, threads and running jobs."""
    info = {"host": FAKE_HOST, "pid": 7, "queues": [QUEUE], "threads": 4, "version": "v1"}
    stats.publish_worker_stats(worker_id, info, running or {}, {}, {})
    redis_client().zadd(keys.heartbeats_key(), {worker_id: now_ms()})


def test_the_workers_page_shows_threads_and_what_each_runs(staff):
    job = {
        "message_id": "m-1",
        "actor": "send_health_alert",
        "queue": QUEUE,
        "started_ms": now_ms(),
        "thread": "Thread-3",
    }
    _register("w-1", {"m-1": job})
    page = staff.get("/jobs/workers/").content.decode()
    section = page.split('data-worker="w-1"')[1]
    assert "1 of 4 threads busy" in section
    assert 'data-message-id="m-1"' in section and "Thread-3" in section and "/jobs/messages/m-1/" in section
    korean = staff.get("/jobs/workers/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "스레드 4개 중 1개 사용 중" in korean


def test_stop_taking_work_is_confirmed_audited_and_undone(staff):
    _register("w-2")
    asked = staff.post("/jobs/workers/w-2/", {"op": "quiet_worker"}).content.decode()
    assert 'id="confirm"' in asked and "Stop worker w-2 taking work?" in asked
    done = staff.post("/jobs/workers/w-2/", {"op": "quiet_worker", "confirm": "yes"}, follow=True).content.decode()
    assert "Worker w-2 takes no more work" in done and 'data-quiet="yes"' in done
    assert control.quiet_workers() == {"w-2"}
    staff.post("/jobs/workers/w-2/", {"op": "wake_worker", "confirm": "yes"})
    assert control.quiet_workers() == set()
    assert list(AuditEntry.objects.order_by("created_at").values_list("action", "filters")) == [
        ("quiet_worker", {"worker": "w-2"}),
        ("wake_worker", {"worker": "w-2"}),
    ]
    refused = staff.post("/jobs/workers/no-such/", {"op": "quiet_worker", "confirm": "yes"}, follow=True)
    assert "Unknown worker or action." in refused.content.decode()


def test_a_quiet_worker_fetches_nothing_until_it_may_take_work_again(clean_redis):
    broker = get_broker()
    broker.declare_queue(QUEUE)
    consumer = broker.consume(QUEUE, prefetch=1, timeout=100)
    try:
        control.quiet_worker(broker.broker_id)
        message: Message[Any] = Message(
            queue_name=QUEUE, actor_name="send_health_alert", args=(1,), kwargs={}, options={}
        )
        broker.enqueue(message)
        assert next(consumer) is None  # asked Redis, told to stop: fetched nothing
        assert redis_client().llen(keys.queue_key(QUEUE)) == 1  # still on its queue for other workers
        control.wake_worker(broker.broker_id)
        fetched = wait_for(lambda: next(consumer), timeout=10, what="the consumer to fetch again")
        assert fetched.message_id == message.message_id
        consumer.ack(fetched)
    finally:
        consumer.close()
