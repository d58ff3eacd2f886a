"""Send-once rows linked to messages: an operator's intent is final for what a message owed.

An operator's kill (a waiting retry) or delete (a dead letter) cancels the row the message would have
sent, in the same action, so neither the reconciler nor a copy of the job sends it; a requeue owes it
again. The package finds the row without knowing the host's models: every concrete `SendOnceRow`
names the actors that send it (`send_actors`) and maps a message's arguments to its rows
(`rows_for_message`). A user's "Send again" owes a failed or cancelled row anew (`owe_again`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Q, QuerySet

from .models import SendOnceRow
from .outbox import enqueue_message_on_commit

Status = SendOnceRow.Status
# What an operator's kill or delete may still cancel: not sent, not being sent by a live claim's holder
# (a sender that is accepted marks the row sent regardless), not already settled as unknown.
_CANCELLABLE = (Status.PENDING, Status.SENDING, Status.FAILED)


@cache
def _models_by_actor() -> Mapping[str, tuple[type[SendOnceRow], ...]]:
    found: dict[str, list[type[SendOnceRow]]] = {}
    for model in apps.get_models():
        if issubclass(model, SendOnceRow):
            for actor in model.send_actors:
                found.setdefault(actor, []).append(model)
    return {actor: tuple(models) for actor, models in found.items()}


def sending_actors() -> frozenset[str]:
    """The actors whose messages send send-once rows (a message of any other actor owes no row)."""
    return frozenset(_models_by_actor())


def _rows(message: Mapping[str, Any]) -> Iterable[QuerySet[SendOnceRow]]:
    actor = str(message.get("actor_name", ""))
    args, kwargs = message.get("args") or [], message.get("kwargs") or {}
    for model in _models_by_actor().get(actor, ()):
        yield model.rows_for_message(actor, args, kwargs)


def cancel_for_messages(messages: Iterable[Mapping[str, Any]]) -> int:
    """Cancel the rows these messages (decoded bodies: actor_name, args, kwargs) owed and had not sent:
    an operator killed or deleted them. Returns how many rows were cancelled."""
    cancelled = 0
    for message in messages:
        for rows in _rows(message):
            cancelled += rows.filter(sent_at__isnull=True, status__in=_CANCELLABLE).update(
                status=Status.CANCELLED, claimed_until=None
            )
    return cancelled


def reopen_for_messages(messages: Iterable[Mapping[str, Any]]) -> int:
    """Owe again the cancelled rows of messages an operator requeued (their job runs again, and sends
    them). Returns how many rows were reopened."""
    reopened = 0
    for message in messages:
        for rows in _rows(message):
            reopened += rows.filter(sent_at__isnull=True, status=Status.CANCELLED).update(status=Status.PENDING)
    return reopened


def owe_again[Row: SendOnceRow](rows: QuerySet[Row], **also: Any) -> list[Row]:
    """Owe anew each of `rows` that failed or was cancelled (never one sent): back to pending, with its
    job (`send_message()`) recorded in the outbox, in one transaction. One conditional UPDATE per row
    decides, so a double click owes one job. `also` are fields set in the same UPDATE (e.g. when it was
    asked for). Returns the rows owed again (none: nothing to do)."""
    owed: list[Row] = []
    with transaction.atomic():
        for row in rows.filter(Q(status=Status.FAILED) | Q(status=Status.CANCELLED), sent_at__isnull=True):
            if (
                type(row)
                ._default_manager.filter(pk=row.pk, status__in=[Status.FAILED, Status.CANCELLED], sent_at__isnull=True)
                .update(status=Status.PENDING, claimed_until=None, **also)
            ):
                enqueue_message_on_commit(row.send_message())
                owed.append(row)
    return owed
