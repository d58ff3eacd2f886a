"""Send-once rows linked to messages: an operator's intent is final for what a message owed.

An operator's kill (a waiting retry) or delete (a dead letter) cancels the row the message would have
sent, in the same action, so neither the reconciler nor a copy of the job sends it; a requeue owes it
again. The package finds the row without knowing the host's models: every concrete `SendOnceRow`
names the actors that send it (`send_actors`) and maps a message's arguments to its rows
(`rows_for_message`, `rows_for_messages` for a batch). A user's "Send again" owes a failed or cancelled row
anew (`owe_again`), and the console's outbox cancel is `cancel_rows`: one road, one rule.

The rows change before Redis does (dramaturg.actions): cancelled, or reopened for a requeue, from the bodies
about to be taken; `undo` gives the rows of messages not taken after all the status they had.
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
# What an operator's kill, delete or cancel may cancel: every row not sent and not cancelled already. A row a
# live claim is sending right now is cancelled too: the send's outcome then wins (`sendonce.mark_sent` records
# it sent; `mark_failed` and `mark_unknown` leave it cancelled), and no later job or reconciler run sends it.
_CANCELLABLE = (Status.PENDING, Status.SENDING, Status.FAILED, Status.UNKNOWN)

# The rows one action changed: by model, each row's primary key and the status it had before.
Changed = dict[type[SendOnceRow], dict[Any, str]]


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


def _rows(messages: Iterable[Mapping[str, Any]]) -> dict[type[SendOnceRow], QuerySet[SendOnceRow]]:
    """The rows these messages (decoded bodies) owe, one queryset per model (`rows_for_messages`)."""
    calls: dict[str, list[tuple[Any, Any]]] = {}
    for message in messages:
        actor = str(message.get("actor_name", ""))
        if actor in _models_by_actor():
            calls.setdefault(actor, []).append((message.get("args") or [], message.get("kwargs") or {}))
    found: dict[type[SendOnceRow], QuerySet[SendOnceRow]] = {}
    for actor, actor_calls in calls.items():
        for model in _models_by_actor()[actor]:
            rows = model.rows_for_messages(actor, actor_calls)
            found[model] = found[model] | rows if model in found else rows
    return found


def _set_status(rows: QuerySet[SendOnceRow], status: str) -> dict[Any, str]:
    """Set `status` on `rows` (locked first); returns each changed row's primary key and former status."""
    with transaction.atomic():
        before = dict(rows.select_for_update().values_list("pk", "status"))
        if before:
            rows.model._default_manager.filter(pk__in=list(before)).update(status=status)
    return before


def cancel_rows(rows: QuerySet[Any]) -> dict[Any, str]:
    """Cancel those of `rows` not sent (the one rule of an operator's kill or delete and of the outbox's
    cancel, see `_CANCELLABLE`); returns each cancelled row's primary key and former status."""
    return _set_status(rows.filter(sent_at__isnull=True, status__in=_CANCELLABLE), Status.CANCELLED)


def cancel_for_messages(messages: Iterable[Mapping[str, Any]]) -> Changed:
    """Cancel the rows these messages (decoded bodies: actor_name, args, kwargs) owed and had not sent:
    an operator kills or deletes them. One UPDATE per model. Returns the rows cancelled (for `undo`)."""
    return {model: done for model, rows in _rows(messages).items() if (done := cancel_rows(rows))}


def reopen_for_messages(messages: Iterable[Mapping[str, Any]]) -> Changed:
    """Owe again the cancelled rows of messages an operator requeues (their job runs again, and sends
    them). One UPDATE per model. Returns the rows reopened (for `undo`)."""
    return {
        model: done
        for model, rows in _rows(messages).items()
        if (done := _set_status(rows.filter(sent_at__isnull=True, status=Status.CANCELLED), Status.PENDING))
    }


def undo(changed: Changed, messages: Iterable[Mapping[str, Any]]) -> None:
    """Put back the status the rows of `messages` had before this action changed them (`changed`): the
    messages were not taken after all (another operator or a worker was first). Rows the action did not
    change, or that moved on since (a send recorded them sent), are left alone."""
    for model, rows in _rows(messages).items():
        former = changed.get(model, {})
        for status in set(former.values()):
            # A reopen set a cancelled row pending; a cancel set every other row cancelled.
            set_then = Status.PENDING if status == Status.CANCELLED else Status.CANCELLED
            pks = [pk for pk, was in former.items() if was == status]
            rows.filter(pk__in=pks, status=set_then, sent_at__isnull=True).update(status=status)


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
