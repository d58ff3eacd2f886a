"""Requeue and delete of dead letters, with the audit trail (the one action flow of the dead-letter UI)."""
from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from .models import AuditEntry
from .store import dead_letters
from .store.dead_letters import DeadLetterFilter, DeadLetterRef

PERMISSION = "jobs.manage_dead_letters"
AUDIT_REFS = 200
SCOPES = ("one", "selected", "matching")


def perform(user, action: str, scope: str, *, refs: Iterable[DeadLetterRef] = (),
            filter: DeadLetterFilter | None = None) -> AuditEntry:
    """Requeue or delete the given dead letters (scope one/selected) or all that
    match `filter` (scope matching), and record it. Letters another operator
    handled first are skipped and show as the difference between `requested` and `count`."""
    if action not in AuditEntry.Action.values:
        raise ValueError(f"unknown action {action!r}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    filter = filter or DeadLetterFilter()
    take = dead_letters.requeue_dead if action == AuditEntry.Action.REQUEUE else dead_letters.delete_dead
    batches: Iterable[list[DeadLetterRef]]
    batches = dead_letters.refs_matching(filter) if scope == "matching" else [list(refs)]
    requested = count = 0
    handled: list[str] = []
    for batch in batches:
        requested += len(batch)
        count += take(batch)
        handled.extend(str(ref) for ref in islice(batch, max(AUDIT_REFS - len(handled), 0)))
    return AuditEntry.objects.create(
        user=user, user_email=getattr(user, "email", ""), action=action, scope=scope,
        filters=filter.as_params(),
        requested=requested, count=count, refs="\n".join(handled),
    )


def outcome_text(entry: AuditEntry) -> str:
    """What the operator is told after an action."""
    verb = "Requeued" if entry.action == AuditEntry.Action.REQUEUE else "Deleted"
    text = f"{verb} {entry.count} message{'s' if entry.count != 1 else ''}."
    skipped = entry.requested - entry.count
    if skipped:
        text += f" {skipped} had already been requeued or deleted by someone else."
    return text
