"""The broker and its middleware with an in-process dramatiq.Worker (as Dramatiq's own tests do),
over real Redis: the test database in a namespace of the test's own, or a redis-server of the
test's own where the test stops and restarts Redis."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import dramatiq
import pytest
import redis
from django.conf import settings
from django.utils.module_loading import import_string
from dramatiq import Message, Worker
from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker

from dramaturg.broker import RedisBroker
from dramaturg.middleware import QueueMaintenance
from dramaturg.store import dead_letters, keys, queues
from dramaturg.store.dead_letters import DeadLetterRef
from dramaturg.store.filters import MessageFilter
from harness import store_probe
from harness.dead_letters import requeue_in_redis_only
from harness.processes import RedisServer, wait_for

QUEUE = "inproc"


def project_middleware(**replace: dramatiq.Middleware) -> list[dramatiq.Middleware]:
    """The project's middleware (settings), without the scheduler's and Django's DB one."""
    chosen = []
    for path in settings.DRAMATIQ_BROKER["MIDDLEWARE"]:
        if path.startswith(("periodiq", "django_dramatiq")):
            continue
        name = path.rsplit(".", 1)[1]
        chosen.append(replace.get(name) or import_string(path)())
    return chosen


@pytest.fixture
def make_broker() -> Iterator[Callable[..., RedisBroker]]:
    """make_broker(url=..., **options): a project broker in a namespace of its own, made the
    global broker (the store reads through it) until the test ends; its keys are dropped."""
    previous = dramatiq.get_broker()
    made: list[RedisBroker] = []

    def make(url: str = settings.REDIS_URL, *, namespace: str | None = None, middleware=None, **options) -> RedisBroker:
        separator = "&" if "?" in url else "?"
        broker = RedisBroker(
            url=f"{url}{separator}socket_connect_timeout=1&socket_timeout=5",
            namespace=namespace or f"inproc-{uuid.uuid4().hex[:8]}",
            middleware=project_middleware() if middleware is None else middleware,
            **options,
        )
        made.append(broker)
        dramatiq.set_broker(broker)
        return broker

    yield make
    dramatiq.set_broker(previous)
    for broker in made:
        try:
            keys = list(broker.client.scan_iter(match=f"{broker.namespace}:*", count=1000))
            if keys:
                broker.client.delete(*keys)
        except redis.RedisError:
            pass  # a redis-server of the test's own, already stopped


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def start_worker() -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(broker: RedisBroker, threads: int = 2) -> Worker:
        worker = Worker(broker, worker_timeout=100, worker_threads=threads)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop(timeout=10_000)


def logged(caplog, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


# --- a retry that cannot be enqueued -------------------------------------------------


def test_a_retry_that_cannot_be_enqueued_puts_the_message_back_once_redis_returns(
    own_redis, make_broker, start_worker, caplog
):
    caplog.set_level(logging.INFO)
    broker = make_broker(own_redis.url)
    started, redis_stopped = threading.Event(), threading.Event()
    runs: list[int] = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=5, min_backoff=100, max_backoff=200)
    def needs_redis(n: int) -> None:
        runs.append(n)
        if len(runs) == 1:
            started.set()
            redis_stopped.wait(10)
        broker.client.ping()  # the job's own Redis call (the SMTP rate limiter, in the project)

    start_worker(broker)
    needs_redis.send(7)
    assert started.wait(10)
    own_redis.stop()
    redis_stopped.set()
    wait_for(lambda: logged(caplog, "could not be enqueued"), what="the failed retry enqueue to be logged")
    own_redis.start()
    wait_for(lambda: len(runs) >= 2, timeout=30, what="the job to run again after Redis returned")
    wait_for(lambda: queues.queue_counts(QUEUE).in_progress == 0, what="the second run to be acked")
    assert runs == [7, 7]
    assert logged(caplog, "back on queue 'inproc' instead of acking it")
    assert store_probe.count_dead(QUEUE) == 0


def test_delayed_messages_held_by_a_consumer_survive_a_redis_outage(own_redis, make_broker, start_worker, caplog):
    caplog.set_level(logging.INFO)
    broker = make_broker(own_redis.url)
    runs: list[int] = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=5)
    def later(n: int) -> None:
        runs.append(n)
        if len(runs) == 1:
            raise dramatiq.Retry("again later", delay=4000)

    start_worker(broker)
    later.send(3)
    # The retry sits in the delay queue's consumer, in memory, waiting for its eta.
    wait_for(lambda: store_probe.unacked_by_any_worker(f"{QUEUE}.DQ"), what="the retry to be fetched")
    own_redis.stop()
    wait_for(lambda: logged(caplog, "Consumer encountered a connection error"), what="the consumers to notice")
    own_redis.start()
    wait_for(lambda: len(runs) >= 2, timeout=40, what="the delayed retry to run after Redis returned")
    assert runs == [3, 3]
    wait_for(lambda: not store_probe.unacked_by_any_worker(f"{QUEUE}.DQ"), what="nothing left in the delay queue")


# --- messages that cannot be run ------------------------------------------------------


def test_messages_that_cannot_be_run_are_dead_lettered_and_nothing_stays_in_progress(make_broker, start_worker):
    broker = make_broker()
    done: list[str] = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
    def echo(word: str) -> None:
        done.append(word)

    def body(**fields) -> bytes:
        message = {
            "queue_name": QUEUE,
            "actor_name": "echo",
            "args": ["x"],
            "kwargs": {},
            "options": {},
            "message_id": str(uuid.uuid4()),
            "message_timestamp": 1,
            **fields,
        }
        return json.dumps(message).encode()

    ids = {kind: str(uuid.uuid4()) for kind in ("no_redis_id", "options_list", "kwargs_list", "no_body", "junk")}
    broker.do_enqueue(QUEUE, ids["no_redis_id"], body(args=["ran-without-redis-id"]))
    broker.do_enqueue(QUEUE, ids["options_list"], body(options=[1, 2]))
    broker.do_enqueue(QUEUE, ids["kwargs_list"], body(kwargs=["a"]))
    broker.client.rpush(keys.queue_key(QUEUE), ids["no_body"])  # an id the broker never stored
    broker.do_enqueue(QUEUE, ids["junk"], b"\xff not json")
    start_worker(broker)
    echo.send("after")
    wait_for(lambda: store_probe.count_dead(QUEUE) == 5 and done, what="five dead letters and the sound job")

    assert done == ["after"]
    letters = {m.redis_id: m for m in dead_letters.page_dead(MessageFilter(queue=QUEUE)).messages}
    assert set(letters) == set(ids.values())
    kinds = {kind: (letters[i].exception_type, letters[i].reason) for kind, i in ids.items()}
    assert kinds["no_redis_id"][0] == kinds["options_list"][0] == kinds["kwargs_list"][0] == "MalformedMessage"
    assert "no redis_message_id" in kinds["no_redis_id"][1]
    assert "options are not a JSON object (got list)" in kinds["options_list"][1]
    assert "kwargs are not a JSON object" in kinds["kwargs_list"][1]
    assert kinds["no_body"] == ("MissingBody", "Message id was queued without a body")
    assert kinds["junk"][0] == "DecodeError"
    stored = dead_letters.get_dead(DeadLetterRef.parse(letters[ids["options_list"]].ref))
    assert stored is not None and stored.data["undecodable"].startswith("{")
    assert store_probe.unacked_by_any_worker(QUEUE) == set()
    counts = queues.queue_counts(QUEUE)
    assert (counts.ready, counts.in_progress, counts.dead) == (0, 0, 5)

    # Only a missing redis id is repairable: requeued, it runs (with the id it was filed under).
    assert requeue_in_redis_only([DeadLetterRef.parse(letters[i].ref) for i in ids.values()]) == 1
    wait_for(lambda: "ran-without-redis-id" in done, what="the repaired message to run")
    wait_for(lambda: queues.queue_counts(QUEUE).in_progress == 0, what="it to be acked")
    assert store_probe.count_dead(QUEUE) == 4


def test_a_closed_consumer_hands_its_prefetched_messages_to_its_successor(make_broker):
    broker = make_broker()
    broker.declare_queue(QUEUE)
    for n in range(3):
        broker.enqueue(Message(queue_name=QUEUE, actor_name="x", args=(n,), kwargs={}, options={}))
    first = broker.consume(QUEUE, prefetch=3)
    assert next(first).args == (0,)  # the other two wait in its prefetch cache
    first.close()  # as when a connection error restarts it
    second = broker.consume(QUEUE, prefetch=3)
    assert [next(second).args for _ in range(2)] == [(1,), (2,)]


# --- acks lost in a failover -------------------------------------------------------------


def test_an_ack_lost_in_a_failover_is_put_back_by_the_live_worker_and_held_jobs_are_not(
    make_broker, start_worker, caplog
):
    caplog.set_level(logging.INFO)
    broker = make_broker(stray_check_interval_ms=100)
    slow_started = threading.Event()
    runs: list[str] = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE)
    def job(name: str, seconds: float = 0) -> None:
        runs.append(name)
        slow_started.set()
        time.sleep(seconds)

    start_worker(broker)
    job.send("slow", 1.5)  # in hand across many checks: never put back while it runs
    assert slow_started.wait(10)
    # A failover to a replica that missed an ack: the new master lists a message as fetched by this
    # worker, body and all, although the worker finished it on the old primary and holds nothing of it.
    lost = Message(queue_name=QUEUE, actor_name="job", args=("acked-on-the-old-primary",), kwargs={}, options={})
    redis_id = str(uuid.uuid4())
    lost = lost.copy(options={"redis_message_id": redis_id})
    broker.client.hset(keys.consumed_messages_key(QUEUE, broker.namespace), redis_id, lost.encode())
    broker.client.sadd(keys.acks_key(broker.broker_id, QUEUE, broker.namespace), redis_id)

    wait_for(lambda: "acked-on-the-old-primary" in runs, what="the stray message to be put back and run")
    wait_for(lambda: queues.queue_counts(QUEUE).in_progress == 0, what="nothing left in progress")
    assert sorted(runs) == ["acked-on-the-old-primary", "slow"]
    assert logged(caplog, "in this worker's ack set but not in its hands")


# --- dead workers' messages on a timer -------------------------------------------------


@pytest.mark.parametrize("timer", [True, False], ids=["timer", "chance-only"])
def test_a_dead_workers_messages_come_back_on_the_maintenance_timer(make_broker, start_worker, timer):
    namespace = f"inproc-{uuid.uuid4().hex[:8]}"
    # Chance 0: only the timer runs maintenance (the project's default chance would, rarely, too).
    dead = make_broker(namespace=namespace, heartbeat_timeout=1000, maintenance_chance=0, middleware=[])
    dead.declare_queue(QUEUE)
    middleware = project_middleware(QueueMaintenance=QueueMaintenance(interval_ms=200))
    if not timer:
        middleware = [m for m in middleware if not isinstance(m, QueueMaintenance)]
    broker = make_broker(namespace=namespace, heartbeat_timeout=1000, maintenance_chance=0, middleware=middleware)
    done: list[int] = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE)
    def job(n: int) -> None:
        done.append(n)

    job.send(1)
    assert len(dead.do_fetch(QUEUE, 1)) == 1  # fetched by a worker that then dies (never acks, no heartbeat)
    start_worker(broker)
    if timer:
        wait_for(lambda: done, timeout=10, what="the dead worker's message to run")
        assert done == [1]
    else:
        with pytest.raises(AssertionError, match="timed out"):
            wait_for(lambda: done, timeout=3)


def test_after_an_outage_maintenance_gives_live_workers_one_heartbeat_timeout(own_redis, make_broker, caplog):
    namespace = f"inproc-{uuid.uuid4().hex[:8]}"
    options = {"namespace": namespace, "heartbeat_timeout": 1000, "maintenance_chance": 0, "middleware": []}
    other = make_broker(own_redis.url, **options)  # a live worker, busy with the one message
    broker = make_broker(own_redis.url, **options)
    for b in (other, broker):
        b.declare_queue(QUEUE)
    broker.enqueue(Message(queue_name=QUEUE, actor_name="x", args=(), kwargs={}, options={}))
    assert len(other.do_fetch(QUEUE, 1)) == 1
    maintenance = QueueMaintenance(interval_ms=100)

    def stale(since: float) -> Callable[[], bool]:
        return lambda: time.monotonic() - since > 1.2

    own_redis.stop()
    maintenance.run_once(broker, [QUEUE])
    assert logged(caplog, "Queue maintenance failed")
    own_redis.start()
    wait_for(stale(time.monotonic()), what="every heartbeat to be older than the timeout")
    maintenance.run_once(broker, [QUEUE])  # Redis is back: not yet judging anyone
    assert queues.queue_counts(QUEUE).ready == 0
    other.do_qsize(QUEUE)  # the live worker reconnects (any broker call is a heartbeat)
    wait_for(stale(time.monotonic()), what="the other worker to fall silent for good")
    maintenance.run_once(broker, [QUEUE])
    assert queues.queue_counts(QUEUE).ready == 1  # now presumed dead: its message is back


# --- failing messages at full speed --------------------------------------------------------

# A consumer whose prefetch window is full waits for slots to free up, at most the worker timeout.
# Here that timeout is a minute, longer than the test waits: a drain that finishes at all was never
# left waiting it out, whatever the machine's speed.
STALL_MS = 60_000


class QuickWorkerThreads(dramatiq.Middleware):
    """Worker threads look at their in-memory queue every 100 ms (so the worker stops at once);
    the consumers keep the worker's long timeout."""

    def after_worker_thread_boot(self, broker, thread) -> None:
        thread.timeout = 0.1


def test_failing_messages_free_their_slots_and_a_full_window_is_refilled_at_once(make_broker):
    broker = make_broker(middleware=[*project_middleware(), QuickWorkerThreads()])
    windows = 30
    threads = 4  # a prefetch window of 8 (Dramatiq's 2 x threads): the drain refills it ~30 times
    total = windows * threads * 2

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
    def fails(n: int) -> None:
        raise RuntimeError(f"always fails: {n}")

    # Three ways to fail, each a nack: out of retries, arguments that do not fit (validation),
    # too old to run (AgeLimit's skip).
    messages = []
    for n in range(total):
        kind = n % 3
        if kind == 0:
            messages.append(fails.message(n))
        elif kind == 1:
            messages.append(fails.message(n, "one argument too many"))
        else:
            messages.append(fails.message_with_options(args=(n,), max_age=1).copy(message_timestamp=1))
    broker.enqueue_many(messages)

    worker = Worker(broker, worker_timeout=STALL_MS, worker_threads=threads)
    worker.start()
    try:
        wait_for(
            lambda: store_probe.count_dead(QUEUE) == total,
            timeout=STALL_MS / 1000 / 2,
            what=f"all {total} failing messages to be dead-lettered (a stall would last {STALL_MS} ms)",
        )
        wait_for(lambda: queues.queue_counts(QUEUE).in_progress == 0, what="nothing left in progress")
    finally:
        worker.stop(timeout=10_000)

    counts = queues.queue_counts(QUEUE)
    assert (counts.ready, counts.in_progress, counts.dead) == (0, 0, total)
    groups = {g.exception_type: g.count for g in dead_letters.dead_groups(MessageFilter(queue=QUEUE))}
    assert groups == {"RuntimeError": total // 3, "TypeError": total // 3, "SkipMessage": total // 3}
    assert store_probe.unacked_by_any_worker(QUEUE) == set()


def fail_one_job(broker: dramatiq.Broker, *until: tuple[Callable[[], object], str]) -> None:
    """Send one job that raises ValueError("no good"), with no retries, and run a worker of one thread
    until each (condition, what) holds in turn (30 s each: a retried nack waits 5 s)."""

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
    def fails() -> None:
        raise ValueError("no good")

    fails.send()
    worker = Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        for condition, what in until:
            wait_for(condition, timeout=30, what=what)
    finally:
        worker.stop(timeout=10_000)


@pytest.mark.parametrize("project_broker", [True, False], ids=["filed-with-the-nack", "filed-after-the-nack"])
def test_a_dead_letter_is_filed_with_its_reason_whichever_broker_nacks_it(make_broker, project_broker):
    """The project's consumer nacks and files a dead letter in one script call; another Redis broker's
    nack (Dramatiq's own, here) leaves the filing to DeadLetterDetails after it. Either way the letter
    carries its reason and traceback and is counted in its group."""
    broker = make_broker()
    if not project_broker:  # Dramatiq's own broker in the same namespace, with the project's middleware
        broker = DramatiqRedisBroker(
            url=settings.REDIS_URL, namespace=broker.namespace, middleware=project_middleware()
        )
        dramatiq.set_broker(broker)

    fail_one_job(broker, (lambda: dead_letters.dead_groups(MessageFilter(queue=QUEUE)), "the letter to be filed"))
    (group,) = dead_letters.dead_groups(MessageFilter(queue=QUEUE))
    assert (group.actor_name, group.exception_type, group.count) == ("fails", "ValueError", 1)
    (letter,) = dead_letters.page_dead(MessageFilter(queue=QUEUE)).messages
    assert letter.reason == "ValueError: no good"
    stored = dead_letters.get_dead(DeadLetterRef.parse(letter.ref))
    assert stored is not None and 'raise ValueError("no good")' in stored.traceback
    assert queues.queue_counts(QUEUE).in_progress == 0


def test_a_nack_that_meets_a_connection_error_is_retried_and_the_letter_filed_once(make_broker, monkeypatch):
    """Dramatiq's own test of this (test_redis_consumer_nack_can_retry_on_connection_error) patches the
    nack after sending, which our woken consumer often beats; here the first nack fails before it can.
    Dramatiq's worker tries again (5 s later): the message leaves the ack set and is dead once, with
    its reason."""
    broker = make_broker()
    nack_and_file = broker.nack_and_file
    calls: list[str] = []

    def fails_once(queue_name: str, redis_id: str, dead_letter: Message) -> bool:
        calls.append(redis_id)
        if len(calls) == 1:
            raise redis.ConnectionError("Redis went away during the nack")
        return nack_and_file(queue_name, redis_id, dead_letter)

    monkeypatch.setattr(broker, "nack_and_file", fails_once)

    fail_one_job(
        broker,
        (lambda: store_probe.count_dead(QUEUE) == 1, "the retried nack to file the letter"),
        (lambda: queues.queue_counts(QUEUE).in_progress == 0, "nothing left in progress"),
    )
    assert len(calls) == 2  # the retry files with its nack again (before_nack runs again): one letter
    (letter,) = dead_letters.page_dead(MessageFilter(queue=QUEUE)).messages
    assert letter.reason == "ValueError: no good"
    assert store_probe.unacked_by_any_worker(QUEUE) == set()


class _Counting(dramatiq.Middleware):
    """Counts the hooks it defines as a running worker sends them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def before_process_message(self, broker: dramatiq.Broker, message: object) -> None:
        self.calls.append("before_process_message")

    def after_ack(self, broker: dramatiq.Broker, message: object) -> None:
        self.calls.append("after_ack")


def test_a_running_worker_calls_each_defined_hook_once_per_job_middleware_added_at_run_time_included(
    make_broker, start_worker
):
    """The package's broker calls only the hooks a middleware defines (dramaturg.hook_dispatch), over real
    Redis with a real worker and the project's middleware: a middleware added while the worker runs gets
    each hook it defines once per job from the next job on, and is not asked for the hooks it lacks."""
    broker = make_broker()
    done: list[int] = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
    def note(n: int) -> None:
        done.append(n)

    start_worker(broker)
    note.send(1)
    wait_for(lambda: done == [1], what="the first job")
    wait_for(lambda: queues.queue_counts(QUEUE).in_progress == 0, what="the first job acked (acks are batched)")
    counting = _Counting()
    broker.add_middleware(counting)
    for n in range(2, 5):
        note.send(n)
    wait_for(lambda: counting.calls.count("after_ack") == 3, what="three acks seen by the added middleware")
    assert sorted(done) == [1, 2, 3, 4]
    assert counting.calls.count("before_process_message") == 3
    assert counting in broker._defining("after_ack") and counting not in broker._defining("before_enqueue")
