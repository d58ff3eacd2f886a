"""Push wake-ups and batched acks (dramaturg.broker, dramaturg.store.handoff) over real Redis, with an
in-process dramatiq.Worker. Each idle wait of a consumer is recorded as it ends (woken by a push,
or timed out: a poll); a job was woken by a push when the consumer of its queue ran it without any
of its waits timing out since the message was sent, however long the machine took."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dramatiq
import pytest
from django.conf import settings
from dramatiq import Message, Worker

from dramaturg.broker import RedisBroker
from dramaturg.store import dead_letters, handoff, keys, queues
from dramaturg.store.dead_letters import DeadLetterRef
from dramaturg.store.filters import MessageFilter
from dramaturg.store.handoff import WAKE_LIST_CAP
from harness import store_probe
from harness.dead_letters import requeue_in_redis_only
from harness.processes import RedisServer, wait_for
from worker.test_broker_inprocess import project_middleware

QUEUE = "wake"
IDLE_TIMEOUT_MS = 5_000  # a poll would come after this (and stop() waits up to it)
WITHIN_S = 30  # a deadline, not a window: `pushed` tells a push from a poll


@pytest.fixture
def broker() -> Iterator[RedisBroker]:
    previous = dramatiq.get_broker()
    namespace = f"wake-{uuid.uuid4().hex[:8]}"
    made = RedisBroker(
        # Named connections: CLIENT LIST tells this broker's from any other client of the server.
        url=f"{settings.REDIS_URL}?socket_connect_timeout=1&socket_timeout=300&client_name={namespace}",
        namespace=namespace,
        middleware=project_middleware(),
    )
    dramatiq.set_broker(made)
    yield made
    dramatiq.set_broker(previous)
    found = list(made.client.scan_iter(match=f"{made.namespace}:*", count=1000))
    if found:
        made.client.delete(*found)


@pytest.fixture
def idle_worker(broker: RedisBroker) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(threads: int = 2, prefetch: int | None = None) -> Worker:
        worker = Worker(broker, worker_timeout=IDLE_TIMEOUT_MS, worker_threads=threads)
        if prefetch is not None:
            worker.queue_prefetch = prefetch
        worker.start()
        workers.append(worker)
        wait_for(lambda: blocked_on_wake_list(broker, QUEUE), what="the consumer to block on its wake list")
        return worker

    yield start
    # Stopped together: each stop waits out its consumers' idle wait (up to IDLE_TIMEOUT_MS).
    stopping = [threading.Thread(target=worker.stop, kwargs={"timeout": IDLE_TIMEOUT_MS}) for worker in workers]
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """(queue, woken by a push?) for each idle wait of a consumer as it ends; the real wait runs."""
    ended: list[tuple[str, bool]] = []
    real = handoff.wait_for_wake

    def recorded(conn, ns: str, queue: str, timeout_s: float, **options) -> bool:
        woken = real(conn, ns, queue, timeout_s, **options)
        ended.append((queue, woken))
        return woken

    monkeypatch.setattr(handoff, "wait_for_wake", recorded)
    return ended


@contextmanager
def pushed(waits: list[tuple[str, bool]], done: list[str], tag: str) -> Iterator[None]:
    """The body puts `tag`'s message on QUEUE; it must run with no wait of QUEUE's consumer timing out."""
    since = len(waits)
    yield
    wait_for(lambda: tag in done, timeout=WITHIN_S, what=f"{tag!r} to run")
    polls = [woken for queue, woken in waits[since:] if queue == QUEUE and not woken]
    assert not polls, f"{tag!r} was found by a poll, not woken by a push"


def blocked_on_wake_list(broker: RedisBroker, queue: str) -> bool:
    """A client of this broker sits in BLPOP (CLIENT LIST: cmd=blpop), as an idle consumer does."""
    return any(c.get("cmd") == "blpop" and c.get("name") == broker.namespace for c in broker.client.client_list())


def test_stale_wake_ups_are_dropped_with_the_wait_only_while_the_queue_is_empty(broker):
    conn, ns = broker.client, broker.namespace
    wake = keys.wake_key(QUEUE, ns)
    conn.lpush(wake, *[1] * 5)  # left by a burst another consumer fetched whole
    assert handoff.wait_for_wake(conn, ns, QUEUE, 0.05, stale=True) is False  # dropped: none to wake on
    assert conn.llen(wake) == 0
    conn.lpush(wake, 1)
    handoff.enqueue(conn, ns, QUEUE, "r-1", b"body")  # a message on the queue, and its token
    assert handoff.wait_for_wake(conn, ns, QUEUE, 0.05, stale=True) is True  # kept: there is work
    assert conn.llen(wake) == 1
    assert handoff.wait_for_wake(conn, ns, QUEUE, 0.05) is True  # a wait that is not stale drops nothing


def test_wake_up_tokens_left_without_messages_cost_one_empty_fetch_not_one_each(broker, idle_worker, monkeypatch):
    done: list[str] = []
    empty: list[str] = []
    real_fetch = broker.do_fetch

    def fetch(queue_name: str, prefetch: int):
        fetched = real_fetch(queue_name, prefetch)
        if not fetched:
            empty.append(queue_name)
        return fetched

    monkeypatch.setattr(broker, "do_fetch", fetch)

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
    def record(tag: str) -> None:
        done.append(tag)

    idle_worker()
    since = len(empty)
    # What a burst another consumer took whole leaves behind: a full list of tokens and an empty queue.
    wake = keys.wake_key(QUEUE, broker.namespace)
    broker.client.lpush(wake, *[1] * WAKE_LIST_CAP)
    wait_for(lambda: broker.client.llen(wake) == 0, timeout=WITHIN_S, what="the tokens to go")
    wait_for(lambda: blocked_on_wake_list(broker, QUEUE), timeout=WITHIN_S, what="the consumer to wait again")
    # The first token's fetch, which dropped the rest (one fetch per token before), and at most the fetch of a
    # poll (IDLE_TIMEOUT_MS apart) that came just before the tokens.
    assert empty[since:].count(QUEUE) <= 2
    record.send("after")  # and a message sent now still wakes it
    wait_for(lambda: done == ["after"], timeout=WITHIN_S, what="the message sent after")


def test_every_path_that_puts_a_message_on_a_queue_wakes_an_idle_worker(broker, idle_worker, waits):
    done: list[str] = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
    def record(tag: str) -> None:
        done.append(tag)
        if tag == "fails":
            raise RuntimeError("to the dead letters")

    idle_worker()
    with pushed(waits, done, "send"):
        record.send("send")

    with pushed(waits, done, "bulk-2"):
        broker.enqueue_many([record.message("bulk-1"), record.message("bulk-2")])

    # Delayed: pushed to the delay queue's consumer, handed on at its eta (its own wake-up, not a poll).
    with pushed(waits, done, "delayed"):
        record.send_with_options(args=("delayed",), delay=300)

    # Requeued from the dead letters (the dashboard's action).
    record.send("fails")
    wait_for(lambda: store_probe.count_dead(QUEUE) == 1, what="the failure to be dead-lettered")
    done.clear()
    (letter,) = dead_letters.page_dead(MessageFilter(queue=QUEUE)).messages
    with pushed(waits, done, "fails"):
        assert requeue_in_redis_only([DeadLetterRef.parse(letter.ref)]) == 1


def test_a_message_a_consumer_fetched_and_put_back_wakes_an_idle_worker(broker, idle_worker, waits):
    done: list[str] = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE)
    def record(tag: str) -> None:
        done.append(tag)

    # Another worker fetches the message before ours is running, then puts it back (as on shutdown).
    other = RedisBroker(url=settings.REDIS_URL, namespace=broker.namespace, middleware=[])
    other.declare_queue(QUEUE)
    other.enqueue(record.message("put-back"))
    (body,) = other.do_fetch(QUEUE, 1)
    redis_id = Message.decode(body).options["redis_message_id"]
    idle_worker()
    assert done == []
    with pushed(waits, done, "put-back"):
        assert other.do_requeue(QUEUE, redis_id) == 1
    assert done == ["put-back"]


def test_a_dead_workers_messages_put_back_by_maintenance_wake_an_idle_worker(broker, idle_worker, waits):
    done: list[str] = []
    dead = RedisBroker(url=settings.REDIS_URL, namespace=broker.namespace, middleware=[], heartbeat_timeout=1)
    dead.declare_queue(QUEUE)

    @dramatiq.actor(broker=broker, queue_name=QUEUE)
    def record(tag: str) -> None:
        done.append(tag)

    dead.enqueue(record.message("orphan"))
    assert len(dead.do_fetch(QUEUE, 1)) == 1  # fetched by a worker that then dies
    idle_worker()
    broker.heartbeat_timeout = 1  # the dead worker's heartbeat is already older than that
    with pushed(waits, done, "orphan"):
        broker.run_maintenance(QUEUE)
    assert done == ["orphan"]


def test_wake_lists_stay_bounded(broker):
    broker.declare_queue(QUEUE)
    for n in range(WAKE_LIST_CAP * 3):
        broker.enqueue(Message(queue_name=QUEUE, actor_name="x", args=(n,), kwargs={}, options={}))
    assert broker.client.llen(keys.wake_key(QUEUE, broker.namespace)) == WAKE_LIST_CAP


def test_an_idle_wait_stays_under_the_socket_timeout():
    broker = RedisBroker(url=f"{settings.REDIS_URL}?socket_timeout=2", middleware=[])
    assert broker.idle_wait_seconds(60_000) == 1.0  # else redis-py would give up on the BLPOP first
    assert broker.idle_wait_seconds(100) == 0.1


def test_batched_acks_run_every_job_once_and_leave_nothing_in_progress(broker):
    ran: list[int] = []
    lock = threading.Lock()

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
    def count(n: int) -> None:
        with lock:
            ran.append(n)

    total = 2000
    for start in range(0, total, 500):
        broker.enqueue_many([count.message(n) for n in range(start, start + 500)])
    worker = Worker(broker, worker_timeout=100, worker_threads=8)
    worker.start()
    try:
        wait_for(lambda: len(ran) >= total, timeout=60, what="every job to run")
        wait_for(lambda: queues.queue_counts(QUEUE).in_progress == 0, what="every ack to be flushed")
    finally:
        worker.stop()
    assert sorted(ran) == list(range(total))
    assert store_probe.unacked_by_any_worker(QUEUE) == set()


def test_acks_left_unsent_by_a_closed_consumer_are_sent_by_its_successor(tmp_path):
    server = RedisServer(tmp_path / "redis").start()  # AOF on: what was queued survives the restart
    previous = dramatiq.get_broker()
    broker = RedisBroker(url=f"{server.url}?socket_connect_timeout=1&socket_timeout=5", middleware=[])
    dramatiq.set_broker(broker)
    try:
        broker.declare_queue(QUEUE)
        for n in range(40):
            broker.enqueue(Message(queue_name=QUEUE, actor_name="x", args=(n,), kwargs={}, options={}))
        first = broker.consume(QUEUE, prefetch=64)
        taken = [next(first) for _ in range(40)]
        server.stop()
        for message in taken:
            first.ack(message)  # a batch's worth in hand: handed to the consumer, not sent yet
        first.close()  # as when a connection error restarts it: Redis is away, the acks stay unsent
        server.start()
        assert queues.queue_counts(QUEUE).in_progress == 40
        second = broker.consume(QUEUE, prefetch=64, timeout=100)
        assert next(second) is None  # its first step sends what its predecessor could not; the queue is empty
        assert queues.queue_counts(QUEUE).in_progress == 0
    finally:
        dramatiq.set_broker(previous)
        server.stop()
