"""The job platform's own actors: upkeep on the worker side (dashboard pages never write to Redis),
big bulk actions, started here and carried out by `dramaturg.bulk`, and mail to ADMINS when a health
check changes state (`dramaturg.alerts`)."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

import dramatiq
import redis
from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone
from dramatiq.errors import BrokerConnectionError
from periodiq import cron

from dramaturg import conf

from . import actions, alerts, bulk, dbconnections, health, sendonce
from .mail import outbox as outbox_email
from .mail import sending_alias
from .models import BulkAction, HealthAlert
from .outbox import enqueue_on_commit
from .store import dead_letters, stats

logger = logging.getLogger(__name__)


@dramatiq.actor(queue_name="default", max_retries=3, time_limit=10 * 60_000, periodic=cron("17 * * * *"))
def prune_job_store() -> None:
    """Hourly: drop index entries of dead letters the broker expired, forget workers gone for an hour,
    forget health alerts and outbox emails settled long ago."""
    pruned = dead_letters.prune_expired(conf.dead_message_ttl_ms())
    forgotten = stats.forget_silent_workers()
    old_alerts = alerts.prune()
    old_mails = outbox_email.prune()
    if pruned or forgotten or old_alerts or old_mails:
        logger.info(
            "Pruned %d expired dead-letter index entries; forgot %d silent workers, %d old health alerts "
            "and %d old outbox emails",
            pruned,
            forgotten,
            old_alerts,
            old_mails,
        )


@dramatiq.actor(queue_name="default", max_retries=5, time_limit=60 * 60_000, on_retry_exhausted="bulk_action_gave_up")
def run_bulk_action(bulk_id: int) -> None:
    """A big bulk action on dead letters, waiting retries or a queue's ready messages, with its progress in the
    database (dramaturg.bulk)."""
    bulk.run(bulk_id)


@dramatiq.actor(queue_name="default", max_retries=5)
def bulk_action_gave_up(message: dict[str, Any], retries: dict[str, Any]) -> None:
    """`run_bulk_action` ran out of retries (Dramatiq's on_retry_exhausted callback): its action is FAILED, and
    what it did by then is audited, instead of the page saying "running" for good."""
    bulk.give_up(message["args"][0], int(retries.get("retries", 0)) + 1)


def start_bulk_action(user, action: str, filters: dict[str, str], total: int) -> BulkAction:
    """Record a bulk action on everything matching `filters` (a clear: `{"queue": name}`) and send its job."""
    if action not in actions.BULK_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    with transaction.atomic():
        job = BulkAction.objects.create(
            user=user, user_email=getattr(user, "email", ""), action=action, filters=filters, total=total
        )
        enqueue_on_commit(run_bulk_action, job.pk)
    return job


# An alert still owed this long after it was recorded (or last re-enqueued) lost its job: the check run re-sends it.
ALERT_RESEND_AFTER = timedelta(minutes=5)


@dramatiq.actor(queue_name="default", max_retries=0, time_limit=5 * 60_000, periodic=cron(conf.settings.ALERTS.CRON))
def check_health() -> None:
    """On DRAMATURG['ALERTS']['CRON'] (every minute): run the health checks and mail ADMINS each state change
    (FAILING / RECOVERED), throttled; re-send alerts whose job was lost. Two runs at once: one mail per change."""
    if not alerts.enabled():
        return
    try:
        _check_health()
    except dbconnections.UNAVAILABLE_ERRORS as error:
        # No verdict without the database (the outbox backlog, the alerts' rows) either; the next run tries
        # again, rather than a dead letter each minute while it is away (max_retries=0).
        logger.warning("Health checks could not reach the database; no alerts this run: %s", error)


def _check_health() -> None:
    try:
        report = health.run_checks()
    except redis.RedisError as error:
        # No verdict without the checks: nothing is taken to have recovered. The next run tries again.
        logger.warning("Health checks could not reach Redis; no alerts this run: %s", error)
        return
    known = alerts.known_states()
    owed = alerts.changes(report.problems, known, timezone.now(), conf.settings.ALERTS.INTERVAL_S)
    for alert in alerts.record(owed, partial(enqueue_on_commit, send_health_alert)):
        logger.info("Health alert %s recorded: %s", alert.pk, alerts.mail_subject(alert))
    resent = _enqueue_owed_alerts()
    if resent:
        logger.info("Re-enqueued %d owed health alert(s)", resent)


def _enqueue_owed_alerts() -> int:
    """The database is the record of owed alerts: re-enqueue those whose job Redis may have lost (an
    extra job for one that was not lost finds it sent or claimed, and does nothing)."""
    try:
        return sendonce.enqueue_owed(HealthAlert.objects.all(), ALERT_RESEND_AFTER)
    except (redis.RedisError, BrokerConnectionError) as error:
        logger.warning("Owed health alerts could not be re-enqueued; the next run retries: %s", error)
        return 0


@dramatiq.actor(**sendonce.email_actor_options())
def send_health_alert(alert_id: int) -> None:
    """Mail one recorded state change to ADMINS (mail_admins), once: a duplicate finds it sent."""
    alert = sendonce.send(
        HealthAlert.objects.all(),
        alert_id,
        # Straight to the mailer that sends: this row is the owed record already (not the outbox backend's).
        lambda alert: mail_admins(alerts.mail_subject(alert), alerts.mail_body(alert), using=sending_alias()),
        what="Health alert",
    )
    if alert is not None:
        logger.info("Health alert %s mailed to ADMINS: %s", alert_id, alerts.mail_subject(alert))
