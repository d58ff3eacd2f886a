"""Rows owed one email, sent at most once: what makes the email actors idempotent.

A row is a `dramaturg.models.SendOnceRow` (accounts' `EmailDelivery`, the package's `HealthAlert` and
`OutboxEmail`). A worker claims it by a conditional UPDATE with a lease before it sends, so of two
copies of a job exactly one sends; the database is the record of what is owed, so rows whose job
Redis lost are found again (`owed`).

Why an email the mail server accepted is not sent again:

- The lease is short (EMAIL_SEND_LEASE_S) and renewed every third of it by a thread of the sender
  (`_LeaseKeeper`) while the send is under way, the long wait for the reply to the end of DATA
  included: a live sender never loses its row; a killed or paused one loses it one lease after its
  last renewal. That pause, after the acceptance and before the mark, is the one window left.
- After the acceptance the row is never released as "not sent" (no mark_failed). If the database
  does not take `mark_sent`, the outcome is parked in Redis at once (dramaturg.store.sendonce), and the
  sender keeps trying the database, with backoff and a fresh connection each time, without
  acknowledging its message (so Dramatiq gives it to no one else) until the database takes it.
  A worker that claims the row meanwhile (the lease ran out, or a copy of the job) finds the parked
  outcome and marks the row sent instead of sending.
- No answer after the message was handed over (dramaturg.mail.OutcomeUnknown) marks the row "outcome
  unknown": not retried now, not failed. The reconciler sends it once more, with the same
  Message-ID, EMAIL_OUTCOME_UNKNOWN_RESEND_AFTER_S later (and so after each unknown outcome, until
  EMAIL_RETRY_FAILED_FOR_S after the row was created; then it stays unknown for an operator). So each
  unknown outcome can give at most one extra copy, and only if that send had in fact arrived.
- A failure before the hand-over releases the row for the message's retries; on the last one the
  row is failed, transient (no connection, timeout, 4xx: the reconciler tries again every
  EMAIL_RETRY_FAILED_EVERY_S for EMAIL_RETRY_FAILED_FOR_S) or permanent (5xx, bad address: stays
  failed until someone sends it again).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import dramatiq
import redis
from django.db import Error as DatabaseError
from django.db import connections
from django.db.models import F, Model, Q, QuerySet
from django.utils import timezone
from dramatiq.common import compute_backoff
from dramatiq.middleware.time_limit import TimeLimitExceeded
from dramatiq.rate_limits import RateLimitExceeded

from dramaturg import conf

from . import limits
from .attempts import is_last_attempt
from .compiled_queries import CompiledUpdate
from .mail import OutcomeUnknown, is_transient
from .models import SendOnceRow
from .store import sendonce as parked

if TYPE_CHECKING:
    from .broker import RedisBroker

logger = logging.getLogger(__name__)

Status, Failure = SendOnceRow.Status, SendOnceRow.Failure
PENDING, SENDING, SENT, FAILED, UNKNOWN = Status.PENDING, Status.SENDING, Status.SENT, Status.FAILED, Status.UNKNOWN
NOT_CLAIMABLE = (UNKNOWN, Status.CANCELLED)  # only the reconciler's rule, or an operator's requeue, frees these
PARKED_TTL_S = 7 * 86_400  # longer than any database outage we would still be running through


def send_lease() -> timedelta:
    """How long a claim lasts after its sender's last renewal (EMAIL_SEND_LEASE_S)."""
    return timedelta(seconds=conf.settings.SEND_ONCE.LEASE_S)


def claim_wait() -> timedelta:
    """How long a duplicate waits for the copy holding the lease: about one SMTP exchange."""
    return timedelta(seconds=conf.settings.EMAIL.TIMEOUT_S + 5)


class AlreadyClaimed(Exception):
    """Another worker holds the lease on this row right now."""

    def __init__(self, retry_in_ms: int) -> None:
        super().__init__(f"being sent by another worker; retry in {retry_in_ms} ms")
        self.retry_in_ms = retry_in_ms


def _table(row: Model) -> str:
    return row._meta.label_lower


def _claimable(rows: QuerySet[Any], pk: int) -> QuerySet[Any]:
    return rows.filter(pk=pk, sent_at__isnull=True).exclude(status__in=NOT_CLAIMABLE)


def _claim_values(until: datetime) -> dict[str, Any]:
    return {"status": SENDING, "claimed_until": until, "attempts": F("attempts") + 1}


# The claims and the mark of a send, compiled once per thread and database (their QuerySets cost more
# to build than to run). A claim reads the row back in its UPDATE (RETURNING) where the backend can.
_CLAIM_FREE = CompiledUpdate(
    lambda rows, pk, now, until: (
        _claimable(rows, pk).exclude(status=SENDING).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)),
        _claim_values(until),
    ),
    {"pk": "pk", "now": "claimed_until", "until": "claimed_until"},
    returning=True,
)
_TAKE_OVER = CompiledUpdate(
    lambda rows, pk, now, until: (
        _claimable(rows, pk).filter(status=SENDING, claimed_until__lte=now),
        _claim_values(until),
    ),
    {"pk": "pk", "now": "claimed_until", "until": "claimed_until"},
    returning=True,
)
_MARK_SENT = CompiledUpdate(
    lambda rows, pk, now: (
        rows.filter(pk=pk),
        {"status": SENT, "sent_at": now, "claimed_until": None, "last_error": "", "failure": Failure.NONE},
    ),
    {"pk": "pk", "now": "sent_at"},
)


def _take[Row: Model](
    statement: CompiledUpdate, model: type[Row], pk: int, now: datetime, lease: timedelta
) -> Row | None:
    """Run a claim: the row as it now is, or None when its conditions matched nothing. A backend that
    cannot return rows from an UPDATE (MySQL) gets one empty tuple per row updated: the row is then read."""
    taken = statement.run(model, pk=pk, now=now, until=now + lease)
    if not taken:
        return None
    row = taken[0]
    return row if isinstance(row, model) else model._default_manager.get(pk=pk)


def claim[Row: Model](rows: QuerySet[Row], pk: int, lease: timedelta, wait: timedelta = timedelta(0)) -> Row | None:
    """Take the right to send row `pk` of `rows`, or None if there is nothing to send (sent, parked
    as sent, cancelled, or its outcome unknown: only the reconciler's rule sends those again).

    The claim and the read of the row are one statement (UPDATE ... RETURNING); the row's related
    objects (`rows`' select_related) load when first used. Raises DoesNotExist when the row is
    gone, and AlreadyClaimed when another worker still holds the lease after `wait`: a duplicate
    that arrives while the first copy sends usually learns within a second that it has nothing to do.
    """
    deadline = time.monotonic() + wait.total_seconds()
    model = rows.model
    while True:
        # A conditional UPDATE is the claim: of two racing workers exactly one sees a row come back.
        now = timezone.now()
        row: Any = _take(_CLAIM_FREE, model, pk, now, lease)
        if row is not None:
            return row
        # Taking over a row whose sender's lease ran out: that sender may have been accepted, its outcome parked.
        row = _take(_TAKE_OVER, model, pk, now, lease)
        if row is not None:
            if parked.is_parked(_table(row), pk):
                _settle(row, partial(mark_sent, row), "was accepted before")
                with contextlib.suppress(redis.RedisError):  # it expires by itself otherwise
                    parked.unpark(_table(row), pk)
                return None
            return row
        row = model._default_manager.get(pk=pk)
        if row.sent_at is not None or row.status in NOT_CLAIMABLE:
            return None
        if time.monotonic() >= deadline:
            remaining = (row.claimed_until - now) if row.claimed_until else timedelta(0)
            raise AlreadyClaimed(max(int(remaining.total_seconds() * 1000), 1000))
        time.sleep(0.2)


def mark_sent(row: Model) -> None:
    """The mail server accepted it: never sent again."""
    _MARK_SENT.run(type(row), pk=row.pk, now=timezone.now())


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def mark_failed(row: Model, error: BaseException, *, final: bool) -> None:
    """Release the lease so a retry can claim it; `final` when no retry will come. A row an operator
    cancelled meanwhile stays cancelled."""
    type(row)._default_manager.filter(pk=row.pk, sent_at__isnull=True).exclude(status=Status.CANCELLED).update(
        status=FAILED if final else PENDING,
        claimed_until=None,
        last_error=_error_text(error),
        failure=Failure.TRANSIENT if is_transient(error) else Failure.PERMANENT,
    )


def mark_unknown(row: Model, error: BaseException) -> None:
    """No answer after the hand-over: maybe delivered. Kept out of every retry until the rule's wait. A row
    an operator cancelled meanwhile stays cancelled (never resent)."""
    type(row)._default_manager.filter(pk=row.pk, sent_at__isnull=True).exclude(status=Status.CANCELLED).update(
        status=UNKNOWN,
        claimed_until=None,
        outcome_unknown_at=timezone.now(),
        last_error=_error_text(error),
        failure=Failure.NONE,
    )


def _reset_connection(row: Model) -> None:
    with contextlib.suppress(DatabaseError):
        connections[row._state.db or "default"].close()


def _park(row: Model) -> bool:
    try:
        parked.park_sent(_table(row), row.pk, PARKED_TTL_S)
    except redis.RedisError as error:
        logger.error("Could not park the outcome of %s %s in Redis either: %s", _table(row), row.pk, error)
        return False
    return True


def _settle(row: Model, mark: Callable[[], None], what: str) -> None:
    """Write the outcome of a send the mail server accepted (or may have): never give it up.

    The first failure parks "sent" in Redis; then the database is tried again, with backoff and a
    new connection each time, for as long as it takes. The job's message stays unacknowledged
    meanwhile, so no other worker runs it; one that runs a copy finds the parked outcome.
    """
    is_parked = False
    attempt = 0
    while True:
        try:
            try:
                mark()
                break
            except DatabaseError as error:
                _reset_connection(row)
                if not is_parked:
                    is_parked = _park(row)
                attempt += 1
                _, delay_ms = compute_backoff(attempt, factor=100, max_backoff=5_000)
                logger.warning(
                    "%s %s %s, but the database did not take it (%s); trying again in %d ms (parked in Redis: %s)",
                    _table(row),
                    row.pk,
                    what,
                    error,
                    delay_ms,
                    is_parked,
                )
                time.sleep(delay_ms / 1000)
        except TimeLimitExceeded:
            # Leaving now would let a retry send it again: the time limit does not apply here (it may
            # arrive anywhere in the loop, the handler above included).
            logger.warning("%s %s: time limit reached while recording its outcome; still trying", _table(row), row.pk)
    if is_parked:
        with contextlib.suppress(redis.RedisError):  # it expires by itself otherwise
            parked.unpark(_table(row), row.pk)


class _LeaseKeeper:
    """Renews the claim on a row every third of the lease while its send is under way (so a long wait
    for the server's final reply keeps it), from the process's one renewal thread (`_Renewer`: a send
    starts no thread of its own); stops renewing when the process is killed or paused, which frees the
    row one lease after the last renewal. No renewal runs after the `with` block ends."""

    def __init__(self, row: Model, lease: timedelta) -> None:
        self.row, self.lease = row, lease
        self.until = getattr(row, "claimed_until", None)
        self.due = time.monotonic() + lease.total_seconds() / 3
        self._lock = threading.Lock()  # held by a renewal; taken by __exit__, after which none runs
        self._done = False

    def __enter__(self) -> _LeaseKeeper:
        _Renewer.of_this_process().add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _Renewer.of_this_process().remove(self)
        with self._lock:
            self._done = True

    def renew(self) -> None:
        with self._lock:
            if self._done:
                return
            until = timezone.now() + self.lease
            try:
                # Only our own claim: a worker that took over after a pause keeps its own.
                if (
                    type(self.row)
                    ._default_manager.filter(pk=self.row.pk, status=SENDING, claimed_until=self.until)
                    .update(claimed_until=until)
                ):
                    self.until = until
            except DatabaseError as error:
                logger.warning("Could not renew the claim on %s %s: %s", _table(self.row), self.row.pk, error)
            finally:
                _reset_connection(self.row)  # the renewal thread's own connection: renewals are rare
            self.due = time.monotonic() + self.lease.total_seconds() / 3


class _Renewer:
    """The thread that renews the claims of one process's sends when they come due (sends that
    last longer than a third of the lease: rare). Adding a claim wakes it only when it sleeps past
    the new claim's due time (when it had none), so a short send costs it nothing."""

    _lock = threading.Lock()
    _instance: _Renewer | None = None

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.keepers: set[_LeaseKeeper] = set()
        self.wake_at = float("inf")
        self.changed = threading.Condition()
        threading.Thread(target=self._run, name="sendonce-leases", daemon=True).start()

    @classmethod
    def of_this_process(cls) -> _Renewer:
        renewer = cls._instance
        if renewer is None or renewer.pid != os.getpid():  # none yet, or the parent's (a fork has no thread)
            with cls._lock:
                if cls._instance is None or cls._instance.pid != os.getpid():
                    cls._instance = cls()
                renewer = cls._instance
        return renewer

    def add(self, keeper: _LeaseKeeper) -> None:
        with self.changed:
            self.keepers.add(keeper)
            if keeper.due < self.wake_at:
                self.changed.notify()

    def remove(self, keeper: _LeaseKeeper) -> None:
        with self.changed:
            self.keepers.discard(keeper)

    def _run(self) -> None:
        while True:
            with self.changed:
                now = time.monotonic()
                due = [keeper for keeper in self.keepers if keeper.due <= now]
                if not due:
                    self.wake_at = min((keeper.due for keeper in self.keepers), default=float("inf"))
                    self.changed.wait(None if self.wake_at == float("inf") else self.wake_at - now)
                    continue
            for keeper in due:
                try:
                    keeper.renew()
                except Exception:  # a bug: the other claims are still renewed
                    logger.exception("Claim on %s %s not renewed", _table(keeper.row), keeper.row.pk)


def email_actor_options() -> dict[str, Any]:
    """`queue_name`, `max_retries` and `time_limit` of an email actor, from `DRAMATURG["EMAIL"]`:
    `@dramatiq.actor(**email_actor_options())`, so every email of a project shares one policy."""
    email = conf.settings.EMAIL
    return {"queue_name": email.QUEUE, "max_retries": email.MAX_RETRIES, "time_limit": email.TIME_LIMIT_MS}


def send[Row: Model](rows: QuerySet[Row], pk: int, deliver: Callable[[Row], object], *, what: str) -> Row | None:
    """The body of an email actor: claim row `pk`, `deliver` it within the project's SMTP budget,
    settle it. Returns the row sent, or None when there was nothing to send (gone, sent already, its
    outcome unknown). A failure before the hand-over marks the row (failed for good on the message's
    last attempt) and raises for a retry; after it, see the module's docstring."""
    lease = send_lease()
    try:
        row = claim(rows, pk, lease, claim_wait())
    except rows.model.DoesNotExist:  # type: ignore[attr-defined]
        logger.info("%s %s no longer exists; nothing to send", what, pk)
        return None
    except AlreadyClaimed as busy:
        raise dramatiq.Retry(str(busy), delay=busy.retry_in_ms) from None
    if row is None:
        status = rows.filter(pk=pk).values_list("status", flat=True).first()
        if status == UNKNOWN:
            logger.info("%s %s has an unknown outcome; only the reconciler's rule sends it again", what, pk)
        elif status == Status.CANCELLED:
            logger.info("%s %s was cancelled; nothing to send", what, pk)
        else:
            logger.info("%s %s was already sent; nothing to do", what, pk)
        return None
    with _LeaseKeeper(row, lease):
        try:
            if not limits.acquire_within(limits.smtp_limiter(), timeout_s=10):
                raise RateLimitExceeded("the SMTP send rate stayed at its limit for 10 s")
            deliver(row)
        except OutcomeUnknown as error:
            _settle(row, partial(mark_unknown, row, error), "got no answer after the hand-over")
            logger.warning(
                "%s %s: outcome unknown (%s); sent once more after %d s unless settled",
                what,
                pk,
                error,
                conf.settings.SEND_ONCE.UNKNOWN_RESEND_AFTER_S,
            )
            return None
        except Exception as error:
            mark_failed(row, error, final=is_last_attempt())
            raise
        _settle(row, partial(mark_sent, row), "was accepted by the mail server")
    return row


def owed[Row: Model](rows: QuerySet[Row], older_than: timedelta) -> QuerySet[Row]:
    """Rows whose job the reconciler should enqueue again, none with a live claim:

    - pending or sending, created (and last re-enqueued, if ever) more than `older_than` ago: their
      job may be gone from Redis;
    - failed for a transient reason, created less than EMAIL_RETRY_FAILED_FOR_S ago, not re-enqueued
      in the last EMAIL_RETRY_FAILED_EVERY_S: the mail server may be back;
    - outcome unknown for EMAIL_OUTCOME_UNKNOWN_RESEND_AFTER_S, created less than EMAIL_RETRY_FAILED_FOR_S
      ago: the rule's one more send (`release_unknown` lets it be claimed).
    """
    now = timezone.now()
    cutoff = now - older_than
    every = now - timedelta(seconds=conf.settings.SEND_ONCE.RETRY_FAILED_EVERY_S)
    lost = Q(status__in=[PENDING, SENDING], created_at__lte=cutoff) & (
        Q(reconciled_at__isnull=True) | Q(reconciled_at__lte=cutoff)
    )
    failed_transient = (
        Q(status=FAILED, failure=Failure.TRANSIENT)
        & Q(created_at__gt=now - timedelta(seconds=conf.settings.SEND_ONCE.RETRY_FAILED_FOR_S))
        & (Q(reconciled_at__isnull=True) | Q(reconciled_at__lte=every))
    )
    unknown_due = Q(
        status=UNKNOWN,
        outcome_unknown_at__lte=now - timedelta(seconds=conf.settings.SEND_ONCE.UNKNOWN_RESEND_AFTER_S),
        created_at__gt=now - timedelta(seconds=conf.settings.SEND_ONCE.RETRY_FAILED_FOR_S),
    )
    return (
        rows.filter(sent_at__isnull=True)
        .filter(lost | failed_transient | unknown_due)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
    )


def owed_batches[Row: Model](rows: QuerySet[Row], older_than: timedelta, batch: int = 500) -> Iterator[list[Row]]:
    """Owed rows in id order, `batch` at a time (keyset paging: rows marked meanwhile are not skipped)."""
    last_id = 0
    while True:
        page = list(owed(rows, older_than).filter(pk__gt=last_id).order_by("pk")[:batch])
        if not page:
            return
        yield page
        last_id = page[-1].pk


def release_unknown[Row: Model](rows: list[Row]) -> None:
    """Let the outcome-unknown rows among these be claimed: their one more send is being enqueued."""
    if rows:
        type(rows[0])._default_manager.filter(pk__in=[r.pk for r in rows], status=UNKNOWN).update(status=PENDING)


def mark_reconciled[Row: Model](rows: list[Row]) -> None:
    """Note that these rows' jobs were enqueued again now (the next look skips them for a period)."""
    if rows:
        type(rows[0])._default_manager.filter(pk__in=[r.pk for r in rows]).update(reconciled_at=timezone.now())


def enqueue_owed[Row: SendOnceRow](rows: QuerySet[Row], older_than: timedelta) -> int:
    """Re-enqueue every owed row older than `older_than` (its job may be lost); returns how many.

    A row whose job is still in Redis gets a second one: the actors are idempotent, so the extra
    job finds it sent (or claimed) and does nothing. Raises the broker's error if Redis is
    unreachable (batches enqueued so far stay marked).
    """
    broker = cast("RedisBroker", dramatiq.get_broker())
    total = 0
    for page in owed_batches(rows, older_than):
        release_unknown(page)
        broker.enqueue_many(row.send_message() for row in page)
        mark_reconciled(page)
        total += len(page)
    return total
