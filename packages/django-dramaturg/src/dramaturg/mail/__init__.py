"""Email: Django's SMTP backend with RFC 5321's timeouts (`smtp`), and the outbox backend (`outbox`).

`dramaturg.mail.EmailBackend` is the SMTP mailer a project names in `MAILERS`; `dramaturg.mail.OutboxEmailBackend`
is the mailer that records each email as an owed row with its job in the caller's transaction, sent once by a
worker through the SMTP mailer. The outbox names are imported on first use: the outbox module needs the models,
and this package is imported by Django's mail handling, possibly before the apps are ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .smtp import EmailBackend, OutcomeUnknown, is_transient

if TYPE_CHECKING:
    from .outbox import AttachmentTooLarge, OutboxEmailBackend, sending_alias

__all__ = [
    "AttachmentTooLarge",
    "EmailBackend",
    "OutboxEmailBackend",
    "OutcomeUnknown",
    "is_transient",
    "sending_alias",
]

_OUTBOX_NAMES = frozenset({"AttachmentTooLarge", "OutboxEmailBackend", "sending_alias"})


def __getattr__(name: str) -> Any:
    if name in _OUTBOX_NAMES:
        from . import outbox

        return getattr(outbox, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
