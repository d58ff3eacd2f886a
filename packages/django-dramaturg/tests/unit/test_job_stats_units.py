"""JobStats' bookkeeping without a worker or Redis: its hooks are called as Dramatiq's worker calls
them, and what it would publish is captured (dramaturg.store.stats.publish_worker_stats replaced)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from dramatiq import Message
from dramatiq.broker import MessageProxy

from dramaturg.middleware import stats as stats_middleware
from dramaturg.middleware.stats import JobStats
from dramaturg.store import recent
from harness.dramaturg_settings import set_dramaturg


class Broker:
    broker_id = "worker-1"

    def __init__(self) -> None:
        self.actors = {
            "send": SimpleNamespace(options={}),
            "hourly": SimpleNamespace(options={"periodic": "17 * * * *"}),
        }

    def get_declared_queues(self) -> set[str]:
        return {"emails"}


class Publishes:
    """Stands in for dramaturg.store.stats.publish_worker_stats: keeps what each publish would write,
    or raises while `failing`."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.failing = False

    def __call__(self, worker_id, info, running, counts, periodic, **extra) -> None:
        if self.failing:
            raise ConnectionError("Redis is down")
        self.calls.append({"running": running, "counts": counts, "periodic": periodic, **extra})

    @property
    def last(self) -> dict[str, Any]:
        return self.calls[-1]


class Stats:
    """A JobStats booted as a worker boots it, with no background publishes: tests call flush()."""

    def __init__(self) -> None:
        self.broker = Broker()
        self.middleware = JobStats()
        self.middleware.after_worker_boot(self.broker, SimpleNamespace(consumer_whitelist=["emails"]))  # type: ignore[arg-type]
        self.middleware._stop.set()

    def run(self, proxy: MessageProxy, *, exception: Exception | None = None, ack: bool = True) -> None:
        """Process `proxy` as Dramatiq's worker does: before, after (2 ms later), then ack or nack."""
        self.middleware.before_process_message(self.broker, proxy)  # type: ignore[arg-type]
        time.sleep(0.002)
        self.middleware.after_process_message(self.broker, proxy, exception=exception)  # type: ignore[arg-type]
        if ack:
            self.middleware.after_ack(self.broker, proxy)  # type: ignore[arg-type]
        else:
            self.middleware.after_nack(self.broker, proxy)  # type: ignore[arg-type]


@pytest.fixture
def published(monkeypatch) -> Publishes:
    publishes = Publishes()
    monkeypatch.setattr(stats_middleware.stats, "publish_worker_stats", publishes)
    monkeypatch.setattr(stats_middleware.actor_metrics, "record_version", lambda *args, **kwargs: None)
    return publishes


@pytest.fixture
def job_stats(published: Publishes) -> Stats:
    return Stats()


def message(actor: str = "send", queue: str = "emails", **options: Any) -> MessageProxy:
    return MessageProxy(Message(queue_name=queue, actor_name=actor, args=(), kwargs={}, options=options))


def test_done_retried_and_dead_attempts_are_counted_and_recorded(job_stats, published):
    done, retried, dead = message(retries=0), message(retries=1), message(retries=3)
    job_stats.run(done)
    job_stats.run(retried, exception=ValueError("no"))  # failed; Retries enqueued a retry, so acked
    job_stats.run(dead, exception=ValueError("no"), ack=False)  # failed for good: nacked
    job_stats.middleware.flush()
    [(processed, failed)] = published.last["counts"].values()
    assert (processed, failed) == (1, 2)
    [by_actor] = published.last["actors"].values()
    counts = by_actor["send"]
    assert (counts.processed, counts.failed, counts.retried, counts.dead, counts.finished) == (1, 2, 1, 1, 3)
    records = {r[0]: r for r in published.last["finished"]}
    assert [records[m.message_id][3] for m in (done, retried, dead)] == [recent.DONE, recent.RETRIED, recent.DEAD]
    _, actor, queue, _, retries, started_ms, finished_ms, duration_ms, error = records[dead.message_id]
    assert (actor, queue, retries, error) == ("send", "emails", 3, "ValueError: no")
    assert len(records[done.message_id]) == 8  # no error
    assert 2 <= duration_ms < 1000 and abs(finished_ms - started_ms - duration_ms) <= 1
    assert abs(finished_ms - time.time() * 1000) < 5000


def test_running_jobs_are_published_while_they_run(job_stats, published):
    proxy = message()
    job_stats.middleware.before_process_message(job_stats.broker, proxy)
    job_stats.middleware.flush()
    assert published.last["running"][proxy.message_id]["actor"] == "send"
    job_stats.middleware.flush()
    assert published.last["running"] is None  # unchanged: not written again
    job_stats.middleware.after_process_message(job_stats.broker, proxy)
    job_stats.middleware.after_ack(job_stats.broker, proxy)
    job_stats.middleware.flush()
    assert published.last["running"] == {}


def test_moving_a_delayed_message_to_its_queue_is_no_attempt(job_stats, published):
    job_stats.middleware.after_ack(job_stats.broker, message(queue="emails.DQ"))
    job_stats.middleware.flush()
    assert published.last["counts"] == {} and published.last["finished"] == []


def test_without_the_record_only_counts_are_kept(job_stats, published, settings):
    set_dramaturg(settings, "CONSOLE", RECENT_LIMIT=0)
    job_stats.run(message())
    job_stats.middleware.flush()
    assert published.last["finished"] == [] and sum(p for p, _ in published.last["counts"].values()) == 1


def test_a_failed_publish_keeps_everything_for_the_next(job_stats, published):
    published.failing = True
    job_stats.run(message())
    job_stats.run(message("hourly"))
    job_stats.middleware.flush()
    published.failing = False
    job_stats.run(message())
    job_stats.middleware.flush()
    assert sum(p for p, _ in published.last["counts"].values()) == 3 and len(published.last["finished"]) == 3
    assert sum(c["send"].processed for c in published.last["actors"].values()) == 2
    assert published.last["periodic"]["hourly"]["outcome"] == "processed"


def test_a_message_nacked_before_it_ran_counts_as_dead_without_a_runtime(job_stats, published):
    job_stats.middleware.after_nack(job_stats.broker, message())
    job_stats.middleware.flush()
    [by_actor] = published.last["actors"].values()
    assert (by_actor["send"].dead, by_actor["send"].finished) == (1, 0)
    assert published.last["finished"][0][3] == recent.DEAD and published.last["counts"] == {}
