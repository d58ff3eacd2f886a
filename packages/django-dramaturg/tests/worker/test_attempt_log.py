"""Each failed attempt of a message is on record with its error, masked (dramaturg.store.attempt_log), as an
in-process worker's JobStats middleware publishes it: what a message's detail page lists under Attempts."""

from __future__ import annotations

from functools import partial

import dramatiq
from dramatiq import Worker, get_broker

from dramaturg.store import attempt_log, keys, lookup
from dramaturg.store.connection import client
from harness.processes import wait_for

FAILS = {"left": 2}


def finished(message_id: str) -> bool:
    """Whether the record of finished messages has `message_id` (as its worker's JobStats publishes it)."""
    return any(s.state == "finished" for s in lookup.locate(message_id, [], []))


@dramatiq.actor(queue_name="features-attempts", max_retries=3, min_backoff=10, max_backoff=20)
def fails_twice_then_works(label: str) -> None:
    if FAILS["left"]:
        FAILS["left"] -= 1
        raise ConnectionError(f"attempt failed for {label} password=topsecret")


def test_each_failed_attempt_and_its_masked_error_are_recorded_by_a_worker(clean_redis):
    FAILS["left"] = 2
    worker = Worker(get_broker(), worker_timeout=100, worker_threads=1, queues={"features-attempts"})
    worker.start()
    try:
        message = fails_twice_then_works.send("abc")
        wait_for(
            partial(finished, message.message_id),
            timeout=20,
            what="the third attempt to finish",
        )
    finally:
        worker.stop(timeout=10_000)
    attempts = attempt_log.failed_attempts(message.message_id)
    assert [a["retries"] for a in attempts] == [0, 1]
    assert {a["error"] for a in attempts} == {"ConnectionError: attempt failed for abc password=********"}
    assert all(a["worker"] and a["at_ms"] for a in attempts)


def test_a_publish_records_each_message_s_attempts_keeping_the_newest_and_expiring(clean_redis):
    pipe = client().pipeline(transaction=False)
    failures = [("m1", retries, 1_000 + retries, f"Error {retries}") for retries in range(attempt_log.MAX_ATTEMPTS + 5)]
    attempt_log.add_to_pipeline(pipe, [*failures, ("m2", 0, 7, "Other: once")], "worker-1", ttl_s=60)
    pipe.execute()
    kept = attempt_log.failed_attempts("m1")
    assert [a["retries"] for a in kept] == list(range(5, attempt_log.MAX_ATTEMPTS + 5))  # the newest, oldest first
    assert attempt_log.failed_attempts("m2") == [
        {"retries": 0, "at_ms": 7, "error": "Other: once", "worker": "worker-1"}
    ]
    assert 0 < client().ttl(keys.attempts_key("m1")) <= 60


@dramatiq.actor(queue_name="features-restarted", max_retries=0)
def finishes() -> None:
    pass


def test_a_worker_started_again_in_the_same_process_still_publishes_what_it_finished(clean_redis):
    """An embedding project's tests start and stop in-process workers one after another."""
    for attempt in range(2):
        worker = Worker(get_broker(), worker_timeout=100, worker_threads=1, queues={"features-restarted"})
        worker.start()
        try:
            message_id = finishes.send().message_id
            wait_for(
                partial(finished, message_id),
                timeout=20,
                what=f"worker {attempt + 1}'s finished message on record",
            )
        finally:
            worker.stop(timeout=10_000)
