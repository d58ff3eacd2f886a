"""The scheduler's send: a Redis outage at the minute a job is due is a logged retry, not a crash."""

import logging

import redis

from dramaturg.periodic import send_when_possible


class FlakyActor:
    """Stands in for a periodic actor whose broker is down for the first `failures` sends."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[str] = []

    def send_with_options(self, *, scheduled_at: str) -> None:
        if self.failures:
            self.failures -= 1
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.sent.append(scheduled_at)

    def __str__(self) -> str:
        return "Actor(flaky)"


def test_a_send_that_meets_an_outage_is_retried_until_redis_answers(caplog):
    actor, pauses = FlakyActor(failures=3), []
    with caplog.at_level(logging.WARNING, logger="dramaturg.periodic"):
        assert send_when_possible(actor, "2026-11-26 02:00:00+09:00", sleep=pauses.append)
    assert actor.sent == ["2026-11-26 02:00:00+09:00"]
    assert pauses == [0.5, 1.0, 2.0]
    assert caplog.text.count("not sent yet") == 3


def test_a_send_that_never_succeeds_is_given_up_with_an_error_not_a_crash(caplog):
    actor = FlakyActor(failures=1_000)
    with caplog.at_level(logging.ERROR, logger="dramaturg.periodic"):
        assert not send_when_possible(actor, "2026-11-26 02:00:00+09:00", retry_for_s=0.0, sleep=lambda s: None)
    assert actor.sent == [] and "not sent" in caplog.text and "reconciler" in caplog.text
