"""Django's SMTP backend with RFC 5321's timeouts, and what a failed send means for trying again
(`dramaturg.mail.EmailBackend`, `OutcomeUnknown`, `is_transient`; also importable from `dramaturg.mail`).

Written against Django 6.1 (django.core.mail.backends.smtp.EmailBackend: its `connection_class`
property and `_send` method) and Python 3.12's smtplib (`SMTP.data` sends the message and its
terminating "." in one `send` call, then reads the final reply with `getreply`);
tests/unit/test_smtp_backend.py fails loudly if either changes.

RFC 5321 §4.5.3.2 gives a client minutes for each step and 10 minutes for the reply to the end
of DATA, because the server may be delivering the message before it answers. Django has one
timeout for every step. Here the connection, the greeting and the commands keep `timeout` (short:
a dead server is noticed quickly), and only the final reply waits `data_timeout`. A timeout or a
dropped connection after the whole message was handed over raises OutcomeUnknown: the server may
have delivered it, so the caller must not treat it as "not sent".
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from functools import partial
from typing import Any

from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend
from dramatiq.rate_limits import RateLimitExceeded

END_OF_DATA = b"\r\n.\r\n"


class OutcomeUnknown(Exception):
    """The message was handed over (end of DATA sent) but the server's answer never came."""


class _FinalReplyTimeout:
    """smtplib.SMTP (or SMTP_SSL) that waits `data_timeout` for the reply to the end of DATA."""

    handed_over = False  # the current message's end of DATA went out

    def __init__(self, *args: Any, data_timeout: float | None = None, **kwargs: Any) -> None:
        self.data_timeout = data_timeout
        super().__init__(*args, **kwargs)  # connects

    def mail(self, *args: Any, **kwargs: Any) -> Any:
        self.handed_over = False  # MAIL FROM starts a new message on this connection
        return super().mail(*args, **kwargs)  # type: ignore[misc]

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        if isinstance(s, bytes) and s.endswith(END_OF_DATA):
            # Only the message's final "." line ends so (dot-stuffing escapes any other).
            self.handed_over = True
            sock = getattr(self, "sock", None)
            if sock is not None and self.data_timeout is not None:
                sock.settimeout(self.data_timeout)


class SMTP(_FinalReplyTimeout, smtplib.SMTP):
    pass


class SMTP_SSL(_FinalReplyTimeout, smtplib.SMTP_SSL):
    pass


class EmailBackend(DjangoSmtpBackend):
    """Django's SMTP backend plus OPTIONS `data_timeout` (seconds to wait for the reply to the end of
    DATA; `timeout` covers the rest) and OutcomeUnknown for an answer lost after the hand-over."""

    def __init__(self, *args: Any, data_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data_timeout = data_timeout

    @property
    def connection_class(self) -> Callable[..., smtplib.SMTP]:  # type: ignore[override]  # stubs: type[SMTP]
        data_timeout = self.data_timeout if self.data_timeout is not None else self.timeout
        return partial(SMTP_SSL if self.use_ssl else SMTP, data_timeout=data_timeout)

    def _send(self, email_message: Any) -> bool:
        try:
            return bool(super()._send(email_message))  # type: ignore[misc]  # not in django-stubs
        except OSError as error:  # timeouts, resets and SMTPServerDisconnected (an SMTPException)
            if getattr(self.connection, "handed_over", False) and not isinstance(error, smtplib.SMTPResponseException):
                raise OutcomeUnknown(f"no answer after the message was handed over: {error}") from error
            raise


def is_transient(error: BaseException) -> bool:
    """Whether a failed send is worth trying again later: no connection, a timeout, a 4xx reply,
    our own rate limit. A 5xx reply, an address no server takes, or a bug is permanent."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code < 500
    return isinstance(error, OSError | RateLimitExceeded)
