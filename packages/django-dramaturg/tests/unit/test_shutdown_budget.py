"""A graceful stop waits its whole shutdown timeout for the jobs in progress (dramaturg.shutdown_budget)."""

from __future__ import annotations

import threading
import time

import dramatiq
import dramatiq.common
import dramatiq.worker
from dramatiq.brokers.stub import StubBroker

from dramaturg import shutdown_budget

# Jobs that end one after another, the last 1.5 s after the stop: a 2 s timeout has room for all of them.
ENDS_S = (0.3, 0.6, 0.9, 1.5)
TIMEOUT_MS = 2000


def jobs_ending_at(ends: tuple[float, ...]) -> list[threading.Thread]:
    started = time.monotonic()

    def job(end: float) -> None:
        threading.Event().wait(max(0.0, started + end - time.monotonic()))

    threads = [threading.Thread(target=job, args=(end,), daemon=True) for end in ends]
    for thread in threads:
        thread.start()
    return threads


def test_dramatiqs_join_all_gives_up_on_a_job_its_timeout_had_room_for() -> None:
    """Why the module exists. Upstream takes the time since the start off what is left at every thread:
    2.0 - 0.3 = 1.7 s, then 1.7 - 0.6 = 1.1 s, then 1.1 - 0.9 = 0.2 s left at 0.9 s: it gives up at ~1.1 s."""
    threads = jobs_ending_at(ENDS_S)
    dramatiq.common.join_all(threads, TIMEOUT_MS)
    assert threads[-1].is_alive()  # abandoned, with most of the timeout left
    threads[-1].join()


def test_join_all_waits_until_the_deadline_for_the_last_job() -> None:
    threads = jobs_ending_at(ENDS_S)
    shutdown_budget.join_all(threads, TIMEOUT_MS)
    assert not any(thread.is_alive() for thread in threads)


def test_join_all_returns_at_the_deadline_when_a_job_outlasts_it() -> None:
    threads = jobs_ending_at((0.1, 3.0))
    started = time.monotonic()
    shutdown_budget.join_all(threads, 500)
    assert threads[-1].is_alive() and time.monotonic() - started < 2.5
    threads[-1].join()


def test_install_gives_worker_stop_the_one_deadline() -> None:
    original = dramatiq.worker.join_all
    try:
        shutdown_budget.install()
        assert dramatiq.worker.join_all is shutdown_budget.join_all
    finally:
        dramatiq.worker.join_all = original


def test_a_workers_stop_lets_each_running_job_finish_within_its_timeout() -> None:
    """Dramatiq's own Worker.stop, once installed: four jobs running when the stop comes, ending 0.3-1.5 s
    after it, all finish within its 2 s (on a StubBroker: the subject is the worker's threads)."""
    broker = StubBroker(middleware=[])
    broker.declare_queue("default")
    running, stopping = threading.Semaphore(0), threading.Event()
    finished: list[float] = []

    @dramatiq.actor(broker=broker)
    def job(end: float) -> None:
        running.release()
        stopping.wait(10)
        threading.Event().wait(end)
        finished.append(end)

    worker = dramatiq.Worker(broker, worker_threads=len(ENDS_S), worker_timeout=50)
    worker.start()
    original = dramatiq.worker.join_all
    try:
        shutdown_budget.install()
        for end in ENDS_S:  # shortest first: threads that take them in that order use upstream's budget up
            job.send(end)
        for _ in ENDS_S:
            assert running.acquire(timeout=10), "every job running before the stop"
        stopping.set()
        worker.stop(timeout=TIMEOUT_MS)
    finally:
        dramatiq.worker.join_all = original
    assert sorted(finished) == sorted(ENDS_S)
