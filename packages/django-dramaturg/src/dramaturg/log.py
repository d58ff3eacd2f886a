"""The logging classes LOGGING names (imported when logging is configured: no models here).

`SecretMaskingFilter` masks secrets on every handler; `SkipServiceUnavailable` keeps 503 answers out
of the mail to ADMINS; `AdminEmailHandler` is Django's, with the mail sent through the outbox.

Django's AdminEmailHandler sends the mail inside the request that failed: a slow mail server makes
that request slow, and any anonymous request that errs makes the site send mail. Ours formats the
mail as Django does and hands it to one background thread per process, which records it
(`dramaturg.errormail.record`: `mail_admins` through the outbox email backend, throttled) on the
thread's own database connection, so it works when the request's transaction is broken. The request never waits and
never sees an error from it: a full hand-over queue, or a database that refuses the row, drops the
mail with a log line (the error itself is logged anyway).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import log as django_log

from .mail import is_transient
from .masking import mask_text, one_line_error
from .tracebacks import masked_traceback_text

logger = logging.getLogger(__name__)

QUEUE_SIZE = 100  # mails waiting for the thread; past it, a flood is dropped before touching the database


class _Recorder:
    """One daemon thread per process (started again after a fork) that records the mails handed over."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, str, str | None]] = queue.Queue(QUEUE_SIZE)
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def hand_over(self, subject: str, body: str, using: str | None) -> None:
        try:
            self.queue.put_nowait((subject, body, using))
        except queue.Full:
            logger.warning("Error mail to ADMINS dropped (too many at once): %s", subject)
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="admin-error-mail", daemon=True)
                self.thread.start()

    def is_recorder_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def _run(self) -> None:
        from django.db import connection

        from .errormail import record

        while True:
            subject, body, using = self.queue.get()
            try:
                recorded = record(subject, body, using=using)
            except Exception as error:
                logger.warning("Error mail to ADMINS dropped (the database refused it: %s): %s", error, subject)
            else:
                if not recorded:
                    logger.info("Error mail to ADMINS left out by the throttle: %s", subject)
            finally:
                # Error mails are rare: no idle connection held between them, and a broken one is not reused.
                with contextlib.suppress(Exception):
                    connection.close()
                self.queue.task_done()


_recorder = _Recorder()


def pending() -> int:
    """Mails handed over in this process and not yet recorded (or dropped)."""
    return _recorder.queue.unfinished_tasks


class AdminEmailHandler(django_log.AdminEmailHandler):
    """AdminEmailHandler whose mail goes through the outbox (see the module's docstring)."""

    def emit(self, record: logging.LogRecord) -> None:
        if not settings.ADMINS or _recorder.is_recorder_thread():
            return  # nobody to mail; or an error of the recorder itself, which logs it
        try:
            super().emit(record)
        except Exception:
            self.handleError(record)  # prints to stderr; never raises into the request

    def send_mail(self, subject: Any, message: Any, *args: Any, **kwargs: Any) -> None:
        _recorder.hand_over(str(subject), str(message), getattr(self, "using", None))  # Django 6.1's; not in stubs


_MASKED = "_dramaturg_masked"


class SecretMaskingFilter(logging.Filter):
    """Masks secrets in each record's message and exception text (attach to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MASKED, False):  # masked by this filter on another handler already
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        masked = mask_text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        exc = record.exc_info[1] if record.exc_info and not record.exc_text else None
        if exc is not None:  # formatted and masked once (dramaturg.tracebacks); as Formatter.formatException has it
            record.exc_text = masked_traceback_text(exc).removesuffix("\n")
        else:
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        setattr(record, _MASKED, True)
        return True


class SkipServiceUnavailable(logging.Filter):
    """Leave out 503 answers: /jobs/health answers 503 while a check fails, the operator's pages while
    Redis is down, and every page while the database is (dramaturg.unavailable), by design. Each such request
    would otherwise mail ADMINS (Django logs every 5xx answer as an error); the health alerts
    (dramaturg.alerts) tell of a failing check once instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503


class ExpectedFailuresOneLine(logging.Filter):
    """Dramatiq logs a traceback (~45 lines) for every exception a job raises. An expected one, worth
    retrying (`dramaturg.mail.is_transient`: no connection, a timeout, a 4xx reply, a rate limit), is
    one warning line instead: the error, masked, with the message; Dramatiq logs its retry (or that it gave
    up) next, and
    the traceback stays in the message (the console shows it). Attach it to the logger
    `dramatiq.worker.WorkerThread` (a logger's filter sees each record once, before every handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or record.levelno < logging.ERROR or not is_transient(error):
            return True
        try:
            subject = record.getMessage().split(" with unhandled exception", 1)[0]
        except Exception:  # a broken format string: leave the record as it is
            return True
        record.msg, record.args = "%s: %s (an expected failure)", (subject, one_line_error(error))
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


class ZonedFormatter(logging.Formatter):
    """Each line's time with its UTC offset (ISO 8601, to the millisecond, in the process's zone: Django
    sets it to TIME_ZONE), so that lines of every process read in one zone and say which."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created).astimezone().isoformat(sep=" ", timespec="milliseconds")
