"""The welcome email as its owner sees it on the account page: where it is, and "send again"."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dramaturg import conf, owed_rows

from .models import EmailDelivery, User


class State(enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # handed to the mail server, no answer: maybe delivered
    CANCELLED = "cancelled"  # an operator stopped it (killed or deleted its job)
    NONE = "none"


LABELS = {
    State.QUEUED: _("On its way"),
    State.SENDING: _("Being sent"),
    State.RETRYING: _("Retrying: the mail server has not accepted it yet"),
    State.SENT: _("Sent"),
    State.FAILED: _("Could not be delivered"),
    State.UNKNOWN: _("Handed to the mail server, which did not confirm it"),
    State.CANCELLED: _("Cancelled: it will not be sent unless you ask for it again"),
    State.NONE: _("No welcome email"),
}


@dataclass(frozen=True)
class WelcomeEmail:
    state: State
    attempts: int = 0
    sent_at: datetime | None = None
    # When "send again" may next be used (None: now, if the state allows it).
    resend_after: datetime | None = None
    # Outcome unknown: when it is sent once more if it is still unconfirmed (dramaturg.sendonce's rule).
    unknown_resend_at: datetime | None = None

    @property
    def label(self) -> str:
        return str(LABELS[self.state])

    @property
    def can_resend(self) -> bool:
        return self.state in (State.FAILED, State.CANCELLED) and self.resend_after is None


def _state(delivery: EmailDelivery) -> State:
    if delivery.status == EmailDelivery.Status.SENT:
        return State.SENT
    if delivery.status == EmailDelivery.Status.UNKNOWN:
        return State.UNKNOWN
    if delivery.status == EmailDelivery.Status.CANCELLED:
        return State.CANCELLED
    if delivery.status == EmailDelivery.Status.FAILED:
        retried_until = delivery.created_at + timedelta(seconds=conf.settings.SEND_ONCE.RETRY_FAILED_FOR_S)
        if delivery.failure == EmailDelivery.Failure.TRANSIENT and retried_until > timezone.now():
            return State.RETRYING  # the reconciler tries again (dramaturg.sendonce.owed)
        return State.FAILED
    if delivery.status == EmailDelivery.Status.SENDING:
        return State.SENDING
    # Pending: a failed attempt leaves its error (the retry is scheduled), a fresh row has none.
    return State.RETRYING if delivery.attempts and delivery.last_error else State.QUEUED


def _resend_after(delivery: EmailDelivery) -> datetime | None:
    if delivery.resend_requested_at is None:
        return None
    after = delivery.resend_requested_at + timedelta(seconds=settings.WELCOME_EMAIL_RESEND_INTERVAL_S)
    return after if after > timezone.now() else None


def welcome_email(user: User) -> WelcomeEmail:
    """The state of the user's welcome email (State.NONE for accounts made without one, e.g. the dev admin)."""
    delivery = EmailDelivery.objects.filter(user=user).first()
    if delivery is None:
        return WelcomeEmail(State.NONE)
    unknown_resend_at = None
    if delivery.status == EmailDelivery.Status.UNKNOWN and delivery.outcome_unknown_at:
        unknown_resend_at = delivery.outcome_unknown_at + timedelta(
            seconds=conf.settings.SEND_ONCE.UNKNOWN_RESEND_AFTER_S
        )
    return WelcomeEmail(
        _state(delivery), delivery.attempts, delivery.sent_at, _resend_after(delivery), unknown_resend_at
    )


def send_again(user: User) -> bool:
    """Owe a failed or cancelled welcome email again: back to pending, with a new job through the outbox, in one
    transaction (dramaturg.owed_rows.owe_again).

    Only a failed or cancelled one (a sent email is never sent twice: the actor finds it sent), and at most once
    per WELCOME_EMAIL_RESEND_INTERVAL_S: the conditional UPDATE decides, so a double click sends one job.
    Returns whether a new job was recorded.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.WELCOME_EMAIL_RESEND_INTERVAL_S)
    rows = EmailDelivery.objects.filter(user=user).exclude(resend_requested_at__gt=cutoff)
    return bool(owed_rows.owe_again(rows, resend_requested_at=now))
