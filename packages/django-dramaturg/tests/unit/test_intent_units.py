"""Without Redis or a process: an expected job failure logged as one line (dramaturg.log.ExpectedFailuresOneLine),
log times with their offset (ZonedFormatter), a message's last error as one masked line
(dramaturg.store.messages.last_error_of), and which actors' messages owe send-once rows (dramaturg.owed_rows)."""

import logging
import smtplib
import sys

from dramatiq.rate_limits import RateLimitExceeded

from dramaturg import owed_rows
from dramaturg.log import ExpectedFailuresOneLine, ZonedFormatter
from dramaturg.store.messages import last_error_of


def _failed_job_record(error: BaseException) -> logging.LogRecord:
    """The record Dramatiq's worker thread logs for a job that raised `error`."""
    try:
        raise error
    except BaseException:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "dramatiq.worker.WorkerThread",
        logging.ERROR,
        __file__,
        1,
        "Failed to process message %s with unhandled exception.",
        ("send_welcome_email(7)",),
        exc_info,
    )


def test_an_expected_failure_is_one_warning_line_without_a_traceback():
    for error in (TimeoutError("timed out"), smtplib.SMTPResponseException(451, b"try later"), RateLimitExceeded("x")):
        record = _failed_job_record(error)
        assert ExpectedFailuresOneLine().filter(record)
        text = logging.Formatter("%(levelname)s %(message)s").format(record)
        assert text.startswith("WARNING Failed to process message send_welcome_email(7): ")
        assert type(error).__name__ in text and "(an expected failure)" in text
        assert "\n" not in text and "Traceback" not in text


def test_a_bug_keeps_its_traceback():
    record = _failed_job_record(ValueError("a bug"))
    assert ExpectedFailuresOneLine().filter(record)
    text = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert text.startswith("ERROR ") and "Traceback" in text


def test_log_times_carry_their_offset():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    stamp = ZonedFormatter("%(asctime)s").format(record)
    assert stamp[-6] in "+-" and stamp[-3] == ":"  # 2026-12-07 00:50:10.708+09:00


def test_the_last_error_is_one_masked_line():
    traceback = (
        'Traceback (most recent call last):\n  File "x", line 1\nSMTPAuthenticationError: password=hunter2 refused\n'
    )
    assert last_error_of({"options": {"traceback": traceback, "retries": 3}}) == (
        "SMTPAuthenticationError: password=******** refused"
    )
    assert last_error_of({"options": {"dead_letter_reason": "ValueError: one\ntwo"}}) == "ValueError: one two"
    assert last_error_of({"options": {}}) == ""


def test_the_actors_whose_messages_owe_rows_are_the_models_send_actors():
    assert {"send_health_alert", "send_outbox_email"} <= owed_rows.sending_actors()
