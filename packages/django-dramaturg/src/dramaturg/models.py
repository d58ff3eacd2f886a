from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from dramatiq import Message


class SendOnceRow(models.Model):
    """The fields of a row owed one email, which `dramaturg.sendonce` claims, sends once and settles.

    Subclassed by every model that owes mail (accounts.EmailDelivery, HealthAlert, OutboxEmail), like
    Django's AbstractBaseSession: the send-once machinery reads and writes only these fields.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        # Handed to the mail server, but its answer never came (timeout or dropped connection after the
        # end of DATA): maybe delivered. Sent once more only after EMAIL_OUTCOME_UNKNOWN_RESEND_AFTER_S.
        UNKNOWN = "unknown", _("Outcome unknown")
        # An operator called it off before it was sent (an outbox email cancelled, a message killed or
        # deleted: dramaturg.owed_rows): never claimed, never re-enqueued (until requeued or owed again).
        CANCELLED = "cancelled", _("Cancelled")

    class Failure(models.TextChoices):
        NONE = "", _("None")
        # Connection refused, timeout, 4xx: the reconciler tries again for EMAIL_RETRY_FAILED_FOR_S.
        TRANSIENT = "transient", _("Transient")
        # 5xx, an address no server takes, a bug: stays failed until someone sends it again.
        PERMANENT = "permanent", _("Permanent")

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    # While set and in the future, one worker owns the send (renewed while the send is under way); an
    # expired lease (worker killed or paused) lets the next delivery of the message take over.
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True, db_index=True)
    last_error = models.TextField(_("last error"), blank=True)
    # Whether the last failure was worth trying again later (set with status failed).
    failure = models.CharField(_("failure"), max_length=16, choices=Failure.choices, default="", blank=True)
    # When a send last ended with its outcome unknown (the rule's one more send waits from then).
    outcome_unknown_at = models.DateTimeField(_("outcome unknown since"), null=True, blank=True)
    # When the reconciler last re-enqueued it.
    reconciled_at = models.DateTimeField(_("re-enqueued at"), null=True, blank=True)

    # The names of the actors whose messages send rows of this model: when an operator kills or deletes
    # one of their messages, `rows_for_message` finds the row it owed, which is then cancelled.
    send_actors: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    @classmethod
    def rows_for_message(cls, actor_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> models.QuerySet[Self]:
        """The rows a message of one of `send_actors` sends (`dramaturg.owed_rows.cancel_for_messages`).
        By default the row whose primary key is the message's first argument; override it when the
        actor takes another id (e.g. a user's id for that user's welcome email)."""
        manager = cls._default_manager
        if actor_name not in cls.send_actors or not args or not isinstance(args[0], int):
            return manager.none()
        return manager.filter(pk=args[0])

    @classmethod
    def rows_for_messages(
        cls, actor_name: str, calls: Sequence[tuple[Sequence[Any], Mapping[str, Any]]]
    ) -> models.QuerySet[Self]:
        """The rows a batch of messages of one of `send_actors` send, given as their (args, kwargs): one
        query for the batch. By default the rows whose primary keys are the messages' first arguments; a
        model that overrides `rows_for_message` alone gets the union of its per-message rows."""
        manager = cls._default_manager
        if actor_name not in cls.send_actors:
            return manager.none()
        if cls.rows_for_message.__func__ is not SendOnceRow.rows_for_message.__func__:  # type: ignore[attr-defined]
            rows = manager.none()
            for args, kwargs in calls:
                rows = rows | cls.rows_for_message(actor_name, args, kwargs)
            return rows
        return manager.filter(pk__in=[args[0] for args, _kwargs in calls if args and isinstance(args[0], int)])

    def send_message(self) -> Message:
        """The job that sends this row: its actor's message, taking the row's id. The reconciler
        (`dramaturg.sendonce.enqueue_owed`) enqueues it again for a row still owed, so it needs no
        knowledge of what each model sends. Every concrete subclass implements it."""
        raise NotImplementedError(f"{type(self).__name__} must say which job sends it (send_message)")


class AuditEntry(models.Model):
    """Who did what to which messages or queues, when: requeued or deleted dead letters,
    retried now, killed or deleted delayed messages, deleted ready ones, paused, resumed or cleared
    a queue, ran, disabled or enabled a periodic job, told a worker to stop or resume taking work, sent an
    outbox email again or cancelled it."""

    class Action(models.TextChoices):
        REQUEUE = "requeue", _("Requeue")
        DELETE = "delete", _("Delete")
        RETRY_NOW = "retry_now", _("Retry now")
        KILL = "kill", _("Kill")
        PAUSE = "pause", _("Pause queue")
        RESUME = "resume", _("Resume queue")
        DELETE_READY = "delete_ready", _("Delete ready job")
        CLEAR = "clear", _("Clear queue")
        DELETE_DELAYED = "delete_delayed", _("Delete delayed job")
        RUN_PERIODIC = "run_periodic", _("Run periodic job now")
        DISABLE_PERIODIC = "disable_periodic", _("Disable periodic job")
        ENABLE_PERIODIC = "enable_periodic", _("Enable periodic job")
        QUIET_WORKER = "quiet_worker", _("Stop worker taking work")
        WAKE_WORKER = "wake_worker", _("Let worker take work")
        SEND_AGAIN = "send_again", _("Send email again")  # an outbox email (the console's Emails page)
        CANCEL_EMAIL = "cancel_email", _("Cancel email")

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, verbose_name=_("user"))
    user_email = models.CharField(_("user email"), max_length=254, blank=True)  # kept if the user is deleted
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    scope = models.CharField(_("scope"), max_length=16)  # one / selected / matching
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    requested = models.PositiveIntegerField(_("requested"), default=0)
    count = models.PositiveIntegerField(_("count"), default=0)  # how many this action actually handled
    refs = models.TextField(_("references"), blank=True)  # the first references handled, one per line

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        permissions = [  # names are stored in the database when migrating: English
            ("manage_dead_letters", "Can requeue or delete dead-lettered messages"),
            ("manage_queues", "Can pause and resume queues, and retry now or kill waiting retries"),
        ]

    def __str__(self) -> str:
        return f"{self.user_email} {self.action} {self.count} ({self.scope})"


class BulkAction(models.Model):
    """A big bulk action ("requeue all 300,000 matching") run as a job, with its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, verbose_name=_("user"))
    user_email = models.CharField(_("user email"), max_length=254, blank=True)
    action = models.CharField(_("action"), max_length=16, choices=AuditEntry.Action.choices)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("total"), default=0)  # how many matched when it was asked for
    requested = models.PositiveIntegerField(_("requested"), default=0)  # looked at so far
    count = models.PositiveIntegerField(_("count"), default=0)  # handled so far
    error = models.TextField(_("error"), blank=True)
    audit = models.ForeignKey(
        AuditEntry, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("audit entry")
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("bulk action")
        verbose_name_plural = _("bulk actions")

    def __str__(self) -> str:
        return f"{self.action} all matching {self.filters} ({self.status}, {self.count}/{self.total})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(int(100 * self.requested / self.total), 99) if self.total else 0


class FailedMessage(models.Model):
    """No table: gives the Django admin an entry for the dead letters kept in Redis."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("failed message")
        verbose_name_plural = _("failed messages")

    def __str__(self) -> str:
        return "failed message"


class OutboxMessage(models.Model):
    """A Dramatiq message recorded in the same transaction as the change that causes it.

    Dispatched right after commit; if Redis is down or the process dies first, the
    relay (`manage.py run_outbox_relay`) dispatches it later, oldest first. The
    message id is fixed here, so a row dispatched twice is one message to the
    idempotent actor.
    """

    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    queue_name = models.CharField(max_length=100)
    actor_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    # Message options sent with it, e.g. `eta` (epoch ms: a delayed message) and `task_backend`.
    options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["dispatched_at", "id"], name="jobs_outbox_pending")]

    def __str__(self) -> str:
        state = "dispatched" if self.dispatched_at else "pending"
        return f"{self.actor_name}{tuple(self.args)} ({state})"


class HealthAlert(SendOnceRow):
    """One state change of a health check's (check, subject) that ADMINS are told of by mail.

    Rows are the record of what was told and what is owed: the last row of a (check, subject)
    is the state the admins know, its `seq` numbers the changes (odd: FAILING, even: RECOVERED),
    and the unique (check, subject, seq) lets only one of two racing check runs record a change.
    Recorded with its outbox row in one transaction, sent once by `dramaturg.actors.send_health_alert`.
    """

    class State(models.TextChoices):
        FAILING = "failing", _("Failing")
        RECOVERED = "recovered", _("Recovered")

    check_name = models.CharField(_("check"), max_length=100)
    subject = models.CharField(_("subject"), max_length=200)
    seq = models.PositiveIntegerField(_("change number"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices)
    # The problem's line; on RECOVERED, the line it had when it failed.
    message = models.TextField(_("message"))
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)  # on RECOVERED

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("health alert")
        verbose_name_plural = _("health alerts")
        constraints = [
            models.UniqueConstraint(fields=["check_name", "subject", "seq"], name="jobs_healthalert_one_per_change")
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="jobs_healthalert_owed")]

    send_actors = ("send_health_alert",)

    def __str__(self) -> str:
        return f"{self.state.upper()}: {self.check_name} {self.subject} ({self.status})"

    def send_message(self) -> Message:
        from .actors import send_health_alert  # the actors import the models

        return send_health_alert.message(self.pk)


class OutboxEmail(SendOnceRow):
    """One email handed to `dramaturg.mail.OutboxEmailBackend` (Django's `send_mail`, `EmailMessage.send()`,
    `mail_admins`, ...): the whole message, recorded with its job in the caller's transaction and sent once
    by `dramaturg.mail.outbox.send_outbox_email` through the MAILERS alias `mailer` (a name, never a secret).
    Its attachments are `OutboxEmailAttachment` rows; the job carries only this row's id."""

    mailer = models.CharField(_("mailer"), max_length=100)  # the MAILERS alias that talks to the mail server
    from_email = models.TextField(_("from"))
    to = models.JSONField(_("to"), default=list, blank=True)
    cc = models.JSONField(_("cc"), default=list, blank=True)
    bcc = models.JSONField(_("bcc"), default=list, blank=True)
    reply_to = models.JSONField(_("reply to"), default=list, blank=True)
    subject = models.TextField(_("subject"), blank=True)
    body = models.TextField(_("body"), blank=True)
    content_subtype = models.CharField(_("body subtype"), max_length=32, default="plain")  # text/<this>
    encoding = models.CharField(_("encoding"), max_length=32, blank=True)  # "": DEFAULT_CHARSET
    alternatives = models.JSONField(_("alternatives"), default=list, blank=True)  # [[content, mimetype], ...]
    # Extra headers, the Message-ID fixed when recorded included: every attempt sends the same message.
    headers = models.JSONField(_("headers"), default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("outbox email")
        verbose_name_plural = _("outbox emails")
        indexes = [models.Index(fields=["status", "created_at"], name="dramaturg_outboxemail_owed")]

    send_actors = ("send_outbox_email",)

    def __str__(self) -> str:
        return f"{self.subject} ({self.status})"

    def send_message(self) -> Message:
        from .mail.outbox import send_outbox_email  # the actor imports the models

        return send_outbox_email.message(self.pk)


class OutboxEmailAttachment(models.Model):
    """One attachment of an `OutboxEmail`: its bytes in `content`, or in the storage named by
    `DRAMATURG["OUTBOX_EMAIL"]["ATTACHMENT_STORAGE"]` under `stored_name`. A MIME part attached
    as such (`EmailMessage.attach(part)`) is kept whole, as bytes, with `is_mime_part`."""

    email = models.ForeignKey(OutboxEmail, on_delete=models.CASCADE, related_name="attachments")
    filename = models.TextField(_("file name"), blank=True)
    mimetype = models.CharField(_("type"), max_length=255, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    is_mime_part = models.BooleanField(default=False)
    content = models.BinaryField(null=True, blank=True)
    storage = models.CharField(max_length=100, blank=True)  # a STORAGES alias; "": the bytes are in `content`
    stored_name = models.TextField(blank=True)

    class Meta:
        verbose_name = _("outbox email attachment")
        verbose_name_plural = _("outbox email attachments")

    def __str__(self) -> str:
        return f"{self.filename or self.mimetype} ({self.size} bytes)"
