"""Big bulk actions ("requeue all 300,000 matching", clear a queue of a million) run as a job, with
progress in the database.

The request records a BulkAction and sends `dramaturg.actors.run_bulk_action` through the outbox
(`dramaturg.actors.start_bulk_action`: sent after commit, or by the relay); the page polls the row's
progress. This module holds the job's body and never sends a message.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import actions
from .models import AuditEntry, BulkAction
from .store.filters import MessageFilter

logger = logging.getLogger(__name__)


def run(bulk_id: int) -> None:
    """Carry out a bulk action (the job's body). Safe to run again: a done action does nothing, and
    one interrupted midway (worker killed) goes on with what still matches."""
    bulk = BulkAction.objects.filter(pk=bulk_id).first()
    if bulk is None or bulk.status == BulkAction.Status.DONE:
        return
    BulkAction.objects.filter(pk=bulk.pk).update(status=BulkAction.Status.RUNNING, started_at=timezone.now())
    done_before, count_before = bulk.requested, bulk.count

    def progress(requested: int, count: int) -> None:
        BulkAction.objects.filter(pk=bulk.pk).update(requested=done_before + requested, count=count_before + count)

    try:
        if bulk.action == AuditEntry.Action.CLEAR:  # what was ready when it was confirmed, not what came since
            left = max(bulk.total - done_before, 0)
            entry = actions.clear_queue(bulk.user, bulk.filters["queue"], progress=progress, limit=left)
        else:
            entry = actions.perform(
                bulk.user, bulk.action, "matching", filter=MessageFilter.from_params(bulk.filters), progress=progress
            )
    except Exception as error:
        BulkAction.objects.filter(pk=bulk.pk).update(error=f"{type(error).__name__}: {error}"[:2000])
        raise  # retried by the actor: it goes on with what still matches
    AuditEntry.objects.filter(pk=entry.pk).update(
        user_email=bulk.user_email or entry.user_email,
        requested=F("requested") + done_before,
        count=F("count") + count_before,
    )
    BulkAction.objects.filter(pk=bulk.pk).update(
        status=BulkAction.Status.DONE, finished_at=timezone.now(), audit=entry, error=""
    )


def give_up(bulk_id: int, attempts: int) -> None:
    """The job ran out of retries: the action is FAILED, with its last error, and what it did by then is in the
    audit log (a clear or a delete cannot be undone). Once: a second call changes nothing."""
    with transaction.atomic():
        bulk = BulkAction.objects.select_for_update().filter(pk=bulk_id).first()
        if bulk is None or bulk.status in (BulkAction.Status.DONE, BulkAction.Status.FAILED):
            return
        entry = actions.record_counts(
            bulk.user,
            bulk.action,
            bulk.filters,
            requested=bulk.requested,
            count=bulk.count,
            user_email=bulk.user_email,
        )
        reason = f"Gave up after {attempts} attempt{'' if attempts == 1 else 's'}. {bulk.error}".strip()
        BulkAction.objects.filter(pk=bulk.pk).update(
            status=BulkAction.Status.FAILED, error=reason[:2000], finished_at=timezone.now(), audit=entry
        )
