"""The operator's actions, each audited: requeue and delete of dead letters (the one action flow of
the dead-letter UI), retry now and kill of waiting retries, pause and resume of a queue."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext, gettext_lazy, ngettext, ngettext_lazy

from . import owed_rows
from .models import AuditEntry
from .store import control, dead_letters, delayed
from .store.dead_letters import DeadLetterRef
from .store.delayed import MessageRef
from .store.filters import MessageFilter

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PERMISSION = "dramaturg.manage_dead_letters"
QUEUE_PERMISSION = "dramaturg.manage_queues"
AUDIT_REFS = 200
SCOPES = ("one", "selected", "matching")
DEAD_ACTIONS = (AuditEntry.Action.REQUEUE, AuditEntry.Action.DELETE)
RETRY_ACTIONS = (AuditEntry.Action.RETRY_NOW, AuditEntry.Action.KILL)


def perform(
    user,
    action: str,
    scope: str,
    *,
    refs: Iterable[DeadLetterRef] | Iterable[MessageRef] = (),
    filter: MessageFilter | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditEntry:
    """Run one of the operator's message actions on the given messages (scope one/selected) or on
    all that match `filter` (scope matching), and record it: requeue or delete dead letters, retry
    now (to the front of its queue) or kill (to the dead letters, "killed by an operator") waiting
    retries. Messages another operator handled first are skipped and show as the difference
    between `requested` and `count`."""
    if action not in DEAD_ACTIONS + RETRY_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    filter = filter or MessageFilter()
    batches: Iterable[list[Any]]
    take_some: Callable[[list[Any]], list[dict[str, Any]]]
    if action in DEAD_ACTIONS:
        requeue, bodies_of = action == AuditEntry.Action.REQUEUE, owed_rows.sending_actors()
        take_some = partial(dead_letters.take_dead, requeue=requeue, bodies_of=bodies_of)
        batches = dead_letters.refs_matching(filter) if scope == "matching" else [list(refs)]
    else:
        take_some = partial(
            delayed.take_messages, action=delayed.RETRY if action == AuditEntry.Action.RETRY_NOW else delayed.KILL
        )
        batches = delayed.refs_matching(filter) if scope == "matching" else [list(refs)]
    take = partial(_settle_owed, action, take_some)
    return record(user, action, scope, filter.as_params(), batches, take, progress)


def _settle_owed(action: str, take: Callable[[list[Any]], list[dict[str, Any]]], batch: list[Any]) -> int:
    """Take a batch, and make the operator's intent final for what its messages owed
    (dramaturg.owed_rows): a kill or a delete cancels their send-once rows, a requeue owes them
    again. Returns how many messages were taken."""
    taken = take(batch)
    if action in (AuditEntry.Action.KILL, AuditEntry.Action.DELETE):
        owed_rows.cancel_for_messages(taken)
    elif action == AuditEntry.Action.REQUEUE:
        owed_rows.reopen_for_messages(taken)
    return len(taken)


def record(
    user,
    action: str,
    scope: str,
    filters: dict[str, str],
    batches: Iterable[list[Any]],
    take: Callable[[list[Any]], int],
    progress: Callable[[int, int], None] | None = None,
) -> AuditEntry:
    """Do `take` on each batch of references and record it in the audit log: how many were asked for, how
    many it handled (`take` returns that), the first references. Also the outbox emails' send again / cancel."""
    requested = count = 0
    handled: list[str] = []
    for batch in batches:
        requested += len(batch)
        count += take(batch)
        handled.extend(str(ref) for ref in islice(batch, max(AUDIT_REFS - len(handled), 0)))
        if progress:
            progress(requested, count)
    return AuditEntry.objects.create(
        user=user,
        user_email=_email(user),
        action=action,
        scope=scope,
        filters=filters,
        requested=requested,
        count=count,
        refs="\n".join(handled),
    )


def _email(user) -> str:
    """Who did it: the user's email, or the OS user for a management command."""
    if user is None:
        return f"manage.py ({getpass.getuser()})"
    return getattr(user, "email", "")


def set_paused(user, queue: str, paused: bool) -> AuditEntry:
    """Pause or resume `queue` for every worker, and record it (also when nothing changed)."""
    changed = control.pause(queue) if paused else control.resume(queue)
    return AuditEntry.objects.create(
        user=user,
        user_email=_email(user),
        action=AuditEntry.Action.PAUSE if paused else AuditEntry.Action.RESUME,
        scope="queue",
        filters={"queue": queue},
        requested=1,
        count=int(changed),
    )


VERBS: dict[str, StrOrPromise] = {
    AuditEntry.Action.REQUEUE: gettext_lazy("Requeued"),
    AuditEntry.Action.DELETE: gettext_lazy("Deleted"),
    AuditEntry.Action.RETRY_NOW: gettext_lazy("Retried now"),
    AuditEntry.Action.KILL: gettext_lazy("Killed"),
}

# Whole sentences per action, so that each language can word and pluralise them its own way.
_DONE: dict[str, StrOrPromise] = {
    AuditEntry.Action.REQUEUE: ngettext_lazy("Requeued %(count)s message.", "Requeued %(count)s messages.", "count"),
    AuditEntry.Action.DELETE: ngettext_lazy("Deleted %(count)s message.", "Deleted %(count)s messages.", "count"),
    AuditEntry.Action.RETRY_NOW: ngettext_lazy(
        "Retried now %(count)s message.", "Retried now %(count)s messages.", "count"
    ),
    AuditEntry.Action.KILL: ngettext_lazy("Killed %(count)s message.", "Killed %(count)s messages.", "count"),
}


def outcome_text(entry: AuditEntry) -> str:
    """What the operator is told after an action (in the active language)."""
    queue = entry.filters.get("queue", "")
    if entry.action == AuditEntry.Action.PAUSE:
        if entry.count:
            return gettext("Paused queue %(queue)s.") % {"queue": queue}
        return gettext("Queue %(queue)s was already paused.") % {"queue": queue}
    if entry.action == AuditEntry.Action.RESUME:
        if entry.count:
            return gettext("Resumed queue %(queue)s.") % {"queue": queue}
        return gettext("Queue %(queue)s was already resumed.") % {"queue": queue}
    text = _DONE[entry.action] % {"count": entry.count}
    skipped = entry.requested - entry.count
    if skipped and entry.action in DEAD_ACTIONS:
        text += " " + ngettext(
            "%(count)s had already been requeued or deleted by someone else.",
            "%(count)s had already been requeued or deleted by someone else.",
            skipped,
        ) % {"count": skipped}
    elif skipped:
        text += " " + ngettext(
            "%(count)s had already left the retry queue (their time came, or someone else was first).",
            "%(count)s had already left the retry queue (their time came, or someone else was first).",
            skipped,
        ) % {"count": skipped}
    return text
