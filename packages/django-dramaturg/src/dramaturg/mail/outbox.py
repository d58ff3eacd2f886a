"""The outbox email backend: every email a Django project sends, recorded in the caller's transaction and
sent once by a worker.

`OutboxEmailBackend.send_messages()` (behind `send_mail`, `EmailMessage.send()`, `mail_admins`,
`PasswordResetForm.save()`, ...) writes each message as an `OutboxEmail` row (its attachments as
`OutboxEmailAttachment` rows, or files in a storage) plus an outbox job carrying the row's id, in the
caller's transaction: a rolled-back transaction sends nothing, a committed one is sent even when Redis is
down at that moment (the relay dispatches the job later). It returns at once; the request never waits for
the mail server. Outside a transaction the row and its job commit at once.

`send_outbox_email` sends the row through the MAILERS alias it names (OPTIONS `mailer`, default "smtp") with
`dramaturg.sendonce.send`: claimed with a lease, sent with the Message-ID fixed when it was recorded, marked
sent; a second delivery of the job sends nothing. `reconcile_outbox_emails` re-enqueues rows whose job Redis
lost (`dramaturg.sendonce.enqueue_owed`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import Message as MimeMessage
from typing import Any

import dramatiq
import redis
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.mail import DNS_NAME, EmailMessage, EmailMultiAlternatives, make_msgid
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.handler import DEFAULT_MAILER_ALIAS
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from dramatiq.errors import BrokerConnectionError
from periodiq import cron

from dramaturg import conf

from .. import dbconnections, outbox, owed_rows, sendonce
from ..models import OutboxEmail, OutboxEmailAttachment

logger = logging.getLogger(__name__)

#: The MAILERS alias an `OutboxEmailBackend` hands its emails to when its OPTIONS name none.
DEFAULT_MAILER = "smtp"

Status, Failure = OutboxEmail.Status, OutboxEmail.Failure


class AttachmentTooLarge(ValueError):
    """An email's attachments are larger than `DRAMATURG["OUTBOX_EMAIL"]["MAX_ATTACHMENTS_BYTES"]`: raised by
    `send()`, before anything is recorded."""


class OutboxEmailBackend(BaseEmailBackend):
    """A Django 6.1 mailer (`MAILERS = {"default": {"BACKEND": "dramaturg.mail.OutboxEmailBackend",
    "OPTIONS": {"mailer": "smtp"}}, "smtp": {...}}`) that records instead of sending; see the module."""

    def __init__(self, *, mailer: str = DEFAULT_MAILER, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mailer = mailer

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Record every message that has recipients with its job, in one transaction (a savepoint of the
        caller's); returns how many. Raises AttachmentTooLarge before recording any if one is too large."""
        owed = [_Owed.of(message) for message in email_messages if message.recipients()]
        if not owed:
            return 0
        with transaction.atomic():
            for email in owed:
                _record(email, self.mailer)
        return len(owed)


@dataclass
class _Attachment:
    filename: str
    mimetype: str
    data: bytes
    is_mime_part: bool = False


@dataclass
class _Owed:
    """One EmailMessage as the rows keep it, its attachments as bytes (their size checked)."""

    fields: dict[str, Any]
    attachments: list[_Attachment] = field(default_factory=list)

    @classmethod
    def of(cls, message: EmailMessage) -> _Owed:
        headers = {str(name): str(value) for name, value in message.extra_headers.items()}
        if not any(name.lower() == "message-id" for name in headers):
            headers["Message-ID"] = make_msgid(domain=str(DNS_NAME))  # fixed now: every attempt sends this one
        alternatives = [
            [content.decode() if isinstance(content, bytes) else str(content), mimetype]
            for content, mimetype in getattr(message, "alternatives", [])
        ]
        fields = {
            "from_email": str(message.from_email or ""),
            "to": [str(a) for a in message.to],
            "cc": [str(a) for a in message.cc],
            "bcc": [str(a) for a in message.bcc],
            "reply_to": [str(a) for a in message.reply_to],
            "subject": str(message.subject),
            "body": str(message.body),
            "content_subtype": message.content_subtype,
            "encoding": str(message.encoding or ""),
            "alternatives": alternatives,
            "headers": headers,
        }
        attachments = [_attachment(item) for item in message.attachments]
        total = sum(len(a.data) for a in attachments)
        limit = conf.settings.OUTBOX_EMAIL.MAX_ATTACHMENTS_BYTES
        if total > limit:
            raise AttachmentTooLarge(
                f"the attachments of {fields['subject']!r} are {total} bytes; at most {limit} are accepted "
                "(DRAMATURG['OUTBOX_EMAIL']['MAX_ATTACHMENTS_BYTES'])"
            )
        return cls(fields, attachments)


def _attachment(item: Any) -> _Attachment:
    if isinstance(item, MimeMessage):  # attach(part): kept whole
        return _Attachment("", item.get_content_type(), item.as_bytes(), is_mime_part=True)
    filename, content, mimetype = item
    if isinstance(content, EmailMessage):  # attach(name, message, "message/rfc822")
        content = content.message()
    if isinstance(content, MimeMessage):
        data = content.as_bytes()
    else:
        data = content.encode() if isinstance(content, str) else bytes(content)
    return _Attachment(str(filename or ""), str(mimetype or ""), data)


def _record(email: _Owed, mailer: str) -> OutboxEmail:
    """One email's rows and its job, in the current transaction."""
    row = OutboxEmail.objects.create(mailer=mailer, **email.fields)
    storage = conf.settings.OUTBOX_EMAIL.ATTACHMENT_STORAGE
    rows = []
    for attachment in email.attachments:
        stored: dict[str, Any] = {"content": attachment.data}
        if storage:
            name = f"dramaturg/outbox/{uuid.uuid4().hex}/{attachment.filename or 'attachment'}"
            stored = {"storage": storage, "stored_name": storages[storage].save(name, ContentFile(attachment.data))}
        rows.append(
            OutboxEmailAttachment(
                email=row,
                filename=attachment.filename,
                mimetype=attachment.mimetype,
                size=len(attachment.data),
                is_mime_part=attachment.is_mime_part,
                **stored,
            )
        )
    OutboxEmailAttachment.objects.bulk_create(rows)
    outbox.enqueue_on_commit(send_outbox_email, row.pk)
    return row


def build(row: OutboxEmail) -> EmailMultiAlternatives:
    """The message a row owes, as it was handed to the backend."""
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body,
        from_email=row.from_email or None,
        to=row.to,
        cc=row.cc,
        bcc=row.bcc,
        reply_to=row.reply_to,
        headers=row.headers,
    )
    message.content_subtype = row.content_subtype
    if row.encoding:
        message.encoding = row.encoding
    for content, mimetype in row.alternatives:
        message.attach_alternative(content, mimetype)
    for attachment in row.attachments.order_by("pk"):
        data = _attachment_bytes(attachment)
        if attachment.is_mime_part:
            message.attach(message_from_bytes(data, policy=policy.default))
        else:
            message.attach(attachment.filename or None, data, attachment.mimetype or None)
    return message


def _attachment_bytes(attachment: OutboxEmailAttachment) -> bytes:
    if attachment.storage:
        with storages[attachment.storage].open(attachment.stored_name, "rb") as file:
            return file.read()
    return bytes(attachment.content or b"")


def sending_alias(alias: str = DEFAULT_MAILER_ALIAS) -> str:
    """The MAILERS alias that talks to the mail server for `alias`: the mailer an `OutboxEmailBackend`
    entry hands to, else `alias` itself. Send-once actors send through it (`send(using=sending_alias())`),
    so an email that is already owed work is not recorded in the outbox a second time."""
    config = getattr(django_settings, "MAILERS", {}).get(alias, {})
    if is_outbox_backend(config.get("BACKEND", "")):
        return str(config.get("OPTIONS", {}).get("mailer", DEFAULT_MAILER))
    return alias


def is_outbox_backend(path: str) -> bool:
    """Whether a MAILERS BACKEND path names this backend (or a subclass)."""
    try:
        backend = import_string(path)
    except ImportError:
        return False
    return isinstance(backend, type) and issubclass(backend, OutboxEmailBackend)


@dramatiq.actor(**sendonce.email_actor_options())
def send_outbox_email(email_id: int) -> None:
    """Send one recorded email through its mailer, once: a duplicate or redelivered job finds it sent."""
    row = sendonce.send(
        OutboxEmail.objects.all(), email_id, lambda row: build(row).send(using=row.mailer), what="Outbox email"
    )
    if row is not None:
        logger.info("Outbox email %s sent through mailer %r", email_id, row.mailer)
        try:
            forget_content(row.pk)
        except dbconnections.UNAVAILABLE_ERRORS as error:  # sent all the same; `prune` forgets it later
            logger.warning("Outbox email %s: its content not yet forgotten: %s", email_id, error)


def forget_content(email_id: int) -> None:
    """A sent email keeps its envelope and subject (what the console shows), not its content: a body may
    hold a secret its reader needs once (a password-reset link), and the database outlives the need."""
    sent = OutboxEmail.objects.filter(pk=email_id, status=Status.SENT)
    sent.update(body="", alternatives=[])
    for attachment in OutboxEmailAttachment.objects.filter(email__in=sent).exclude(storage=""):
        storages[attachment.storage].delete(attachment.stored_name)
    OutboxEmailAttachment.objects.filter(email__in=sent).delete()


@dramatiq.actor(
    queue_name=conf.settings.EMAIL.QUEUE,
    max_retries=0,
    time_limit=10 * 60_000,
    periodic=cron(conf.settings.SEND_ONCE.RECONCILE_CRON),
)
def reconcile_outbox_emails() -> None:
    """On SEND_ONCE['RECONCILE_CRON']: re-enqueue the outbox emails whose job Redis may have lost."""
    try:
        count = sendonce.enqueue_owed(
            OutboxEmail.objects.all(), timedelta(seconds=conf.settings.SEND_ONCE.RECONCILE_AFTER_S)
        )
    except (redis.RedisError, BrokerConnectionError) as error:
        logger.warning("Outbox emails could not be re-enqueued (Redis); the next run retries: %s", error)
        return
    except dbconnections.UNAVAILABLE_ERRORS as error:
        logger.warning("Outbox emails could not be re-enqueued (database); the next run retries: %s", error)
        return
    if count:
        logger.info("Re-enqueued %d owed outbox email(s)", count)


# --- what the console shows and does


def state_filter(state: str) -> Q:
    """The rows in one of the console's states: owed, retrying, sent, failed, unknown, cancelled."""
    retry_window = timezone.now() - timedelta(seconds=conf.settings.SEND_ONCE.RETRY_FAILED_FOR_S)
    failed_transient = Q(status=Status.FAILED, failure=Failure.TRANSIENT, created_at__gt=retry_window)
    erred = Q(status=Status.PENDING) & ~Q(last_error="")
    return {
        "owed": Q(status__in=[Status.PENDING, Status.SENDING]) & ~erred,
        "retrying": erred | failed_transient,
        "sent": Q(status=Status.SENT),
        "failed": Q(status=Status.FAILED) & ~failed_transient,
        "unknown": Q(status=Status.UNKNOWN),
        "cancelled": Q(status=Status.CANCELLED),
    }[state]


STATES = ("owed", "retrying", "sent", "failed", "unknown", "cancelled")


def requeue(ids: list[int]) -> int:
    """Owe these failed or cancelled emails again, each with a new job (`owed_rows.owe_again`); returns how
    many. A sent one is never sent again, nor one whose outcome is unknown (it may have been delivered; the
    reconciler's rule sends it once more); one still owed keeps its own job."""
    return len(owed_rows.owe_again(OutboxEmail.objects.filter(pk__in=ids)))


def cancel(ids: list[int]) -> int:
    """Call off these emails (`owed_rows.cancel_rows`, the rule of an operator's kill); returns how many. A
    job that comes later finds the row cancelled and sends nothing; a send under way right now wins."""
    return len(owed_rows.cancel_rows(OutboxEmail.objects.filter(pk__in=ids)))


def prune(older_than: timedelta = timedelta(days=30)) -> int:
    """Forget outbox emails sent (or cancelled) long ago, their stored attachments with them."""
    old = OutboxEmail.objects.filter(
        created_at__lt=timezone.now() - older_than, status__in=[Status.SENT, Status.CANCELLED]
    )
    for attachment in OutboxEmailAttachment.objects.filter(email__in=old).exclude(storage=""):
        storages[attachment.storage].delete(attachment.stored_name)
    deleted, _ = old.delete()
    return deleted


COUNT_CAP = 1_000  # the console counts each state up to this (+1 says "more"), never a month of sent rows
_LISTED = ("pk", "created_at", "to", "cc", "bcc", "subject", "status", "attempts", "sent_at", "last_error")


def page(state: str, before: int | None, size: int) -> list[OutboxEmail]:
    """Up to `size` + 1 emails in one of the console's STATES, newest first, with ids below `before` (if
    given); the extra one says there is a next page. Only the listed fields, never the body."""
    rows = OutboxEmail.objects.filter(state_filter(state)).order_by("-pk")
    if before:
        rows = rows.filter(pk__lt=before)
    return list(rows.only(*_LISTED)[: size + 1])


def state_counts(cap: int | None = None) -> dict[str, int]:
    """How many emails each of the console's STATES holds, each counted up to `cap` + 1 (a bounded
    scan, however many sent rows are kept; COUNT_CAP by default): a count above `cap` means "more than `cap`"."""
    cap = COUNT_CAP if cap is None else cap
    return {state: OutboxEmail.objects.filter(state_filter(state))[: cap + 1].count() for state in STATES}
