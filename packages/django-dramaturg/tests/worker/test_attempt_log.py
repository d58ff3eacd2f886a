"""Each failed attempt of a message is on record with its error, masked (dramaturg.store.attempt_log), as an
in-process worker's JobStats middleware publishes it: what a message's detail page lists under Attempts."""

from __future__ import annotations

import dramatiq
from dramatiq import Worker, get_broker

from dramaturg.store import attempt_log, lookup
from harness.processes import wait_for

FAILS = {"left": 2}


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
            lambda: any(s.state == "finished" for s in lookup.locate(message.message_id, [], [])),
            timeout=20,
            what="the third attempt to finish",
        )
    finally:
        worker.stop(timeout=10_000)
    attempts = attempt_log.failed_attempts(message.message_id)
    assert [a["retries"] for a in attempts] == [0, 1]
    assert {a["error"] for a in attempts} == {"ConnectionError: attempt failed for abc password=********"}
    assert all(a["worker"] and a["at_ms"] for a in attempts)
