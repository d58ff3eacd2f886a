"""Requeue and delete of dead letters, with the audit trail; shared by the dashboard and the admin."""
from __future__ import annotations

from itertools import islice
from typing import Iterable, Optional

from . import broker_store
from .models import AuditEntry

PERMISSION = "jobs.manage_dead_letters"
AUDIT_REFS = 200


def valid_refs(refs: Iterable[str]) -> bool:
    """Every reference has the '<queue>/<redis id>' form (forms can be tampered with)."""
    try:
        for ref in refs:
            broker_store.ref_parts(ref)
    except ValueError:
        return False
    return True


def perform(user, action: str, scope: str, *, refs: Iterable[str] = (), filters: Optional[dict] = None) -> AuditEntry:
    """Requeue or delete the given dead letters (scope one/selected) or all that
    match `filters` (scope matching). Letters another operator handled first are
    skipped and show as the difference between `requested` and `count`."""
    if action not in AuditEntry.Action.values:
        raise ValueError(f"unknown action {action!r}")
    take = broker_store.requeue_dead if action == AuditEntry.Action.REQUEUE else broker_store.delete_dead
    filters = {k: v for k, v in (filters or {}).items() if v}
    if scope == "matching":
        batches = broker_store.refs_matching(filters.get("queue"), filters.get("actor"), filters.get("exception"))
    else:
        batches = [list(refs)]
    requested = count = 0
    handled: list[str] = []
    for batch in batches:
        requested += len(batch)
        count += take(batch)
        handled.extend(islice(batch, max(AUDIT_REFS - len(handled), 0)))
    return AuditEntry.objects.create(
        user=user, user_email=getattr(user, "email", ""), action=action, scope=scope, filters=filters,
        requested=requested, count=count, refs="\n".join(handled),
    )


def outcome_text(entry: AuditEntry) -> str:
    verb = "Requeued" if entry.action == AuditEntry.Action.REQUEUE else "Deleted"
    text = f"{verb} {entry.count} message{'s' if entry.count != 1 else ''}."
    skipped = entry.requested - entry.count
    if skipped:
        text += f" {skipped} had already been requeued or deleted by someone else."
    return text
