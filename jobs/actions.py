"""The operator's actions, each audited: requeue and delete of dead letters (the one action flow of
the dead-letter UI), retry now and kill of waiting retries, pause and resume of a queue."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy, ngettext

from .models import AuditEntry
from .store import control, dead_letters, delayed
from .store.dead_letters import DeadLetterFilter, DeadLetterRef
from .store.delayed import MessageRef, RetryFilter

PERMISSION = "jobs.manage_dead_letters"
QUEUE_PERMISSION = "jobs.manage_queues"
AUDIT_REFS = 200
SCOPES = ("one", "selected", "matching")
DEAD_ACTIONS = (AuditEntry.Action.REQUEUE, AuditEntry.Action.DELETE)
RETRY_ACTIONS = (AuditEntry.Action.RETRY_NOW, AuditEntry.Action.KILL)


def perform(
    user,
    action: str,
    scope: str,
    *,
    refs: Iterable[DeadLetterRef] = (),
    filter: DeadLetterFilter | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditEntry:
    """Requeue or delete the given dead letters (scope one/selected) or all that
    match `filter` (scope matching), and record it. Letters another operator
    handled first are skipped and show as the difference between `requested` and `count`."""
    if action not in DEAD_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    filter = filter or DeadLetterFilter()
    take = dead_letters.requeue_dead if action == AuditEntry.Action.REQUEUE else dead_letters.delete_dead
    batches: Iterable[list[DeadLetterRef]]
    batches = dead_letters.refs_matching(filter) if scope == "matching" else [list(refs)]
    return _run(user, action, scope, filter.as_params(), batches, take, progress)


def perform_on_retries(
    user,
    action: str,
    scope: str,
    *,
    refs: Iterable[MessageRef] = (),
    filter: RetryFilter | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditEntry:
    """Retry now (to the front of its queue) or kill (to the dead letters, "killed by an operator")
    the given waiting retries (one/selected) or all that match `filter`, and record it."""
    if action not in RETRY_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    filter = filter or RetryFilter()
    how = delayed.RETRY if action == AuditEntry.Action.RETRY_NOW else delayed.KILL
    batches: Iterable[list[MessageRef]] = delayed.refs_matching(filter) if scope == "matching" else [list(refs)]
    return _run(user, action, scope, filter.as_params(), batches, lambda batch: delayed.take(batch, how), progress)


def _run(
    user,
    action: str,
    scope: str,
    filters: dict[str, str],
    batches: Iterable[list[Any]],
    take: Callable[[list[Any]], int],
    progress: Callable[[int, int], None] | None = None,
) -> AuditEntry:
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


VERBS: dict[str, str | Promise] = {
    AuditEntry.Action.REQUEUE: gettext_lazy("Requeued"),
    AuditEntry.Action.DELETE: gettext_lazy("Deleted"),
    AuditEntry.Action.RETRY_NOW: gettext_lazy("Retried now"),
    AuditEntry.Action.KILL: gettext_lazy("Killed"),
}


def _handled(action: str, count: int) -> str:
    """ "Requeued 3 messages." in the active language (one sentence per action: word order differs)."""
    if action == AuditEntry.Action.REQUEUE:
        text = ngettext("Requeued %(count)d message.", "Requeued %(count)d messages.", count)
    elif action == AuditEntry.Action.DELETE:
        text = ngettext("Deleted %(count)d message.", "Deleted %(count)d messages.", count)
    elif action == AuditEntry.Action.RETRY_NOW:
        text = ngettext("Retried now %(count)d message.", "Retried now %(count)d messages.", count)
    elif action == AuditEntry.Action.KILL:
        text = ngettext("Killed %(count)d message.", "Killed %(count)d messages.", count)
    else:
        return f"{action} {count}."
    return text % {"count": count}


def outcome_text(entry: AuditEntry) -> str:
    """What the operator is told after an action, in the active language."""
    if entry.action in (AuditEntry.Action.PAUSE, AuditEntry.Action.RESUME):
        queue = {"queue": entry.filters.get("queue", "")}
        if entry.action == AuditEntry.Action.PAUSE:
            return (
                gettext("Paused queue %(queue)s.") if entry.count else gettext("Queue %(queue)s was already paused.")
            ) % queue
        return (
            gettext("Resumed queue %(queue)s.") if entry.count else gettext("Queue %(queue)s was already resumed.")
        ) % queue
    text = _handled(entry.action, entry.count)
    skipped = entry.requested - entry.count
    if skipped:
        if entry.action in DEAD_ACTIONS:
            more = ngettext(
                "%(count)d had already been requeued or deleted by someone else.",
                "%(count)d had already been requeued or deleted by someone else.",
                skipped,
            )
        else:
            more = ngettext(
                "%(count)d had already left the retry queue (its time came, or someone else was first).",
                "%(count)d had already left the retry queue (their time came, or someone else was first).",
                skipped,
            )
        text += " " + more % {"count": skipped}
    return text
