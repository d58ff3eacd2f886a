"""The operator's actions, each audited: requeue and delete of dead letters (the one action flow of
the dead-letter UI), retry now, kill and delete of delayed messages, delete of ready ones, pause,
resume and clear of a queue, and run now, disable and enable of a periodic job."""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable, Iterable
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext, gettext_lazy, ngettext, ngettext_lazy

from . import dbconnections, owed_rows, periodic
from .models import AuditEntry
from .store import control, dead_letters, delayed, queues
from .store.dead_letters import DeadLetterRef
from .store.delayed import MessageRef
from .store.filters import MessageFilter
from .store.queues import Before

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

logger = logging.getLogger(__name__)

PERMISSION = "dramaturg.manage_dead_letters"
QUEUE_PERMISSION = "dramaturg.manage_queues"
AUDIT_REFS = 200
SCOPES = ("one", "selected", "matching")
QUEUE_SCOPE = "queue"  # the audit scope of a clear: the whole queue
DEAD_ACTIONS = (AuditEntry.Action.REQUEUE, AuditEntry.Action.DELETE)
RETRY_ACTIONS = (AuditEntry.Action.RETRY_NOW, AuditEntry.Action.KILL)
DELAYED_ACTIONS = (*RETRY_ACTIONS, AuditEntry.Action.DELETE_DELAYED)  # on any delayed message, one or selected
READY_ACTIONS = (AuditEntry.Action.DELETE_READY,)
# An operator's kill or delete is final for what the message owed: its send-once rows are cancelled.
CANCELLING_ACTIONS = (
    AuditEntry.Action.KILL,
    AuditEntry.Action.DELETE,
    AuditEntry.Action.DELETE_DELAYED,
    AuditEntry.Action.DELETE_READY,
)
WORKER_ACTIONS = (AuditEntry.Action.QUIET_WORKER, AuditEntry.Action.WAKE_WORKER)
EMAIL_ACTIONS = (AuditEntry.Action.SEND_AGAIN, AuditEntry.Action.CANCEL_EMAIL)  # on outbox emails' rows
BULK_ACTIONS = (*DEAD_ACTIONS, *RETRY_ACTIONS, AuditEntry.Action.CLEAR)  # what runs as a bulk job when big
PERIODIC_ACTIONS = (
    AuditEntry.Action.RUN_PERIODIC,
    AuditEntry.Action.DISABLE_PERIODIC,
    AuditEntry.Action.ENABLE_PERIODIC,
)


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
    retries; delete delayed or ready messages (one or selected only). Messages another operator
    (or a worker) handled first are skipped and show as the difference between `requested` and `count`."""
    if action not in DEAD_ACTIONS + DELAYED_ACTIONS + READY_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if scope not in SCOPES or (scope == "matching" and action not in DEAD_ACTIONS + RETRY_ACTIONS):
        raise ValueError(f"unknown scope {scope!r}")
    filter = filter or MessageFilter()
    batches: Iterable[list[Any]]
    take_some: Callable[[list[Any], Before], list[dict[str, Any]]]
    if action in DEAD_ACTIONS:
        requeue, bodies_of = action == AuditEntry.Action.REQUEUE, owed_rows.sending_actors()
        take_some = lambda batch, before: dead_letters.take_dead(  # noqa: E731
            batch, requeue=requeue, bodies_of=bodies_of, before=before
        )
        batches = dead_letters.refs_matching(filter) if scope == "matching" else [list(refs)]
    elif action == AuditEntry.Action.DELETE_READY:
        take_some = lambda batch, before: queues.delete_ready(((r.queue, r.redis_id) for r in batch), before)  # noqa: E731
        batches = [list(refs)]
    else:
        how = {  # keyed by the action's value
            AuditEntry.Action.RETRY_NOW: delayed.RETRY,
            AuditEntry.Action.KILL: delayed.KILL,
            AuditEntry.Action.DELETE_DELAYED: delayed.DELETE,
        }[AuditEntry.Action(action)]
        take_some = lambda batch, before: delayed.take_messages(batch, how, before)  # noqa: E731
        batches = delayed.refs_matching(filter) if scope == "matching" else [list(refs)]
    return record(user, action, scope, filter.as_params(), batches, partial(_settle_owed, action, take_some), progress)


def _settle_owed(action: str, take: Callable[[list[Any], Before], list[dict[str, Any]]], batch: list[Any]) -> int:
    """Take a batch, and make the operator's intent final for what its messages owed
    (dramaturg.owed_rows): a kill or a delete cancels their send-once rows, a requeue owes them
    again. Returns how many messages were taken. The rows change first, from the bodies about to be
    taken: a database error then leaves the messages in Redis (the view answers 503), and a requeued
    message never reaches a worker before its row is owed again."""
    settle = {
        AuditEntry.Action.REQUEUE: owed_rows.reopen_for_messages,
        **dict.fromkeys(CANCELLING_ACTIONS, owed_rows.cancel_for_messages),
    }.get(AuditEntry.Action(action))
    settling = _Settling(settle)
    return len(settling.after(take(batch, settling.before)))


class _Settling:
    """Settles what messages owed around their take: `before` (the store calls it with the bodies about to be
    taken, before Redis changes) runs `settle` on them; `after` (with the bodies taken) gives the rows of
    the messages not taken after all (another operator or a worker was first) back the status they had."""

    def __init__(self, settle: Callable[[list[dict[str, Any]]], owed_rows.Changed] | None) -> None:
        self.settle = settle
        self.tried: list[dict[str, Any]] = []
        self.changed: owed_rows.Changed = {}

    def before(self, bodies: list[dict[str, Any]]) -> None:
        if self.settle is None:
            return
        self.tried.extend(bodies)
        for model, rows in self.settle(bodies).items():
            self.changed.setdefault(model, {}).update(rows)

    def after(self, taken: list[dict[str, Any]]) -> list[dict[str, Any]]:
        taken_ids = {body.get("message_id") for body in taken}
        missed = [body for body in self.tried if body.get("message_id") not in taken_ids]
        if self.changed and missed:
            # The messages' fate is decided in Redis already: a database error now is logged, not raised
            # (those rows stay as the action set them).
            try:
                owed_rows.undo(self.changed, missed)
            except dbconnections.UNAVAILABLE_ERRORS as error:
                logger.warning("Rows of %d message(s) not taken could not be put back: %s", len(missed), error)
        self.tried, self.changed = [], {}
        return taken


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
    return _record_one(user, action, scope, filters, count=count, requested=requested, refs="\n".join(handled))


def record_counts(
    user, action: str, filters: dict[str, str], *, requested: int, count: int, user_email: str = ""
) -> AuditEntry:
    """A bulk action's audit entry from its counts alone: what it did before it gave up (`user_email`: who
    asked for it, kept on the bulk action, else the user's). A clear covers a queue; the others, what matched."""
    scope = QUEUE_SCOPE if action == AuditEntry.Action.CLEAR else "matching"
    return _record_one(user, action, scope, filters, count=count, requested=requested, user_email=user_email)


def _email(user) -> str:
    """Who did it: the user's email, or the OS user for a management command."""
    if user is None:
        return f"manage.py ({getpass.getuser()})"
    return getattr(user, "email", "")


def set_paused(user, queue: str, paused: bool) -> AuditEntry:
    """Pause or resume `queue` for every worker, and record it (also when nothing changed)."""
    changed = control.pause(queue) if paused else control.resume(queue)
    action = AuditEntry.Action.PAUSE if paused else AuditEntry.Action.RESUME
    return _record_one(user, action, "queue", {"queue": queue}, count=int(changed))


def clear_queue(
    user, queue: str, progress: Callable[[int, int], None] | None = None, limit: int | None = None
) -> AuditEntry:
    """Drop every ready message of `queue` (store.queues.clear_ready), or the first `limit`, cancel what they
    owed (dramaturg.owed_rows), and record how many; `progress(dropped, dropped)` after each batch (a bulk job's)."""
    dropped = 0
    settling = _Settling(owed_rows.cancel_for_messages)
    for bodies in queues.clear_ready(queue, before=settling.before, limit=limit):
        dropped += len(settling.after(bodies))
        if progress is not None:
            progress(dropped, dropped)
    return _record_one(user, AuditEntry.Action.CLEAR, QUEUE_SCOPE, {"queue": queue}, count=dropped, requested=dropped)


def periodic_action(user, action: str, actor_name: str) -> AuditEntry:
    """Run a periodic job now, or disable or enable its schedule (held in Redis, honoured by the
    scheduler across restarts), and record it; count 0 when nothing changed (or no such job)."""
    ref = ""
    if action == AuditEntry.Action.RUN_PERIODIC:
        ref = periodic.run_now(actor_name) or ""
        done = bool(ref)
    elif action == AuditEntry.Action.DISABLE_PERIODIC:
        done = control.disable_periodic(actor_name)
    elif action == AuditEntry.Action.ENABLE_PERIODIC:
        done = control.enable_periodic(actor_name)
    else:
        raise ValueError(f"unknown action {action!r}")
    return _record_one(user, action, "periodic", {"actor": actor_name}, count=int(done), refs=ref)


def worker_action(user, action: str, worker_id: str) -> AuditEntry:
    """Tell a worker to stop taking work (its consumers fetch nothing more; what it runs finishes) or to
    take work again, and record it; count 0 when nothing changed."""
    if action == AuditEntry.Action.QUIET_WORKER:
        done = control.quiet_worker(worker_id)
    elif action == AuditEntry.Action.WAKE_WORKER:
        done = control.wake_worker(worker_id)
    else:
        raise ValueError(f"unknown action {action!r}")
    return _record_one(user, action, "worker", {"worker": worker_id}, count=int(done))


def _record_one(
    user,
    action: str,
    scope: str,
    filters: dict[str, str],
    *,
    count: int,
    requested: int = 1,
    refs: str = "",
    user_email: str = "",
) -> AuditEntry:
    """The audit entry of an action on one thing (a queue, a periodic job, a worker); `record` is the
    runner of actions on batches of messages."""
    return AuditEntry.objects.create(
        user=user,
        user_email=user_email or _email(user),
        action=action,
        scope=scope,
        filters=filters,
        requested=requested,
        count=count,
        refs=refs,
    )


VERBS: dict[str, StrOrPromise] = {
    AuditEntry.Action.REQUEUE: gettext_lazy("Requeued"),
    AuditEntry.Action.DELETE: gettext_lazy("Deleted"),
    AuditEntry.Action.RETRY_NOW: gettext_lazy("Retried now"),
    AuditEntry.Action.KILL: gettext_lazy("Killed"),
    AuditEntry.Action.DELETE_READY: gettext_lazy("Deleted"),
    AuditEntry.Action.DELETE_DELAYED: gettext_lazy("Deleted"),
    AuditEntry.Action.CLEAR: gettext_lazy("Cleared"),
}

# Whole sentences per action, so that each language can word and pluralise them its own way.
_DONE: dict[str, StrOrPromise] = {
    AuditEntry.Action.REQUEUE: ngettext_lazy("Requeued %(count)s message.", "Requeued %(count)s messages.", "count"),
    AuditEntry.Action.DELETE: ngettext_lazy("Deleted %(count)s message.", "Deleted %(count)s messages.", "count"),
    AuditEntry.Action.RETRY_NOW: ngettext_lazy(
        "Retried now %(count)s message.", "Retried now %(count)s messages.", "count"
    ),
    AuditEntry.Action.KILL: ngettext_lazy("Killed %(count)s message.", "Killed %(count)s messages.", "count"),
    AuditEntry.Action.DELETE_READY: ngettext_lazy("Deleted %(count)s message.", "Deleted %(count)s messages.", "count"),
    AuditEntry.Action.DELETE_DELAYED: ngettext_lazy(
        "Deleted %(count)s message.", "Deleted %(count)s messages.", "count"
    ),
    AuditEntry.Action.SEND_AGAIN: ngettext_lazy("Sent again %(count)s email.", "Sent again %(count)s emails.", "count"),
    AuditEntry.Action.CANCEL_EMAIL: ngettext_lazy("Cancelled %(count)s email.", "Cancelled %(count)s emails.", "count"),
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
    if entry.action == AuditEntry.Action.CLEAR:
        return ngettext(
            "Cleared queue %(queue)s: %(count)s ready message deleted.",
            "Cleared queue %(queue)s: %(count)s ready messages deleted.",
            entry.count,
        ) % {"queue": queue, "count": entry.count}
    if entry.action in _TOGGLED:
        return _toggled_outcome(entry)
    text = _DONE[entry.action] % {"count": entry.count}
    skipped = entry.requested - entry.count
    if entry.action in EMAIL_ACTIONS:
        return text  # an email not in a state the action applies to is left as it is, not taken by someone
    if skipped and entry.action == AuditEntry.Action.DELETE_READY:
        text += " " + ngettext(
            "%(count)s had already been taken by a worker (or deleted by someone else).",
            "%(count)s had already been taken by a worker (or deleted by someone else).",
            skipped,
        ) % {"count": skipped}
    elif skipped and entry.action in DEAD_ACTIONS:
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


# An on/off action's outcome: (when it changed something, when it was so already), each taking its one value.
_TOGGLED: dict[str, tuple[StrOrPromise, StrOrPromise]] = {
    AuditEntry.Action.DISABLE_PERIODIC: (
        gettext_lazy("Disabled %(actor)s: the scheduler skips its runs until it is enabled."),
        gettext_lazy("%(actor)s was already disabled."),
    ),
    AuditEntry.Action.ENABLE_PERIODIC: (
        gettext_lazy("Enabled %(actor)s: the scheduler sends it again."),
        gettext_lazy("%(actor)s was already enabled."),
    ),
    AuditEntry.Action.RUN_PERIODIC: (gettext_lazy("Sent %(actor)s now."), gettext_lazy("No periodic job %(actor)s.")),
    AuditEntry.Action.QUIET_WORKER: (
        gettext_lazy("Worker %(worker)s takes no more work; what it runs now finishes."),
        gettext_lazy("Worker %(worker)s was already taking no work."),
    ),
    AuditEntry.Action.WAKE_WORKER: (
        gettext_lazy("Worker %(worker)s takes work again."),
        gettext_lazy("Worker %(worker)s was already taking work."),
    ),
}


def _toggled_outcome(entry: AuditEntry) -> str:
    done, already = _TOGGLED[entry.action]
    return str(done if entry.count else already) % entry.filters
