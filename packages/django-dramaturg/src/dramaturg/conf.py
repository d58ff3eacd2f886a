"""The package's settings: one `DRAMATURG` dict merged over `DEFAULTS`, and the broker's.

The package reads no environment variable and no other project setting of its own: a host
writes `DRAMATURG = {"RETRIES": {"MAX_RETRIES": 5}}` and reads `conf.settings.RETRIES.MAX_RETRIES`.
Units are in the names: `_S` seconds, `_MS` milliseconds (only where Dramatiq's own unit is ms),
`_PER_S` rates; counts plain. `checks.py` validates the dict at `manage.py check`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    "EMAIL": {
        "RATE_PER_S": 20,  # SMTP sends per second across all workers (token bucket in Redis)
        "TIMEOUT_S": 10,  # connect/command timeout of the mail server; also how long a claim waits
        "DATA_TIMEOUT_S": 600,  # how long the server may take to accept a message's DATA
        "TIME_LIMIT_MS": (600 + 60) * 1000,  # Dramatiq time limit of every email actor
        "MAX_RETRIES": 8,  # of every email actor
        "QUEUE": "default",  # queue of the package's email actors (health alerts)
    },
    "SEND_ONCE": {
        "LEASE_S": 30,  # a claimed row is left alone by others this long
        "RETRY_FAILED_EVERY_S": 3600,  # a row whose send failed is tried again this often ...
        "RETRY_FAILED_FOR_S": 259_200,  # ... until this long after it was created
        "UNKNOWN_RESEND_AFTER_S": 86_400,  # a send with unknown outcome is sent again after this long
        "RECONCILE_AFTER_S": 600,  # an owed row older than this is re-enqueued (and reported by health)
        "RECONCILE_CRON": "*/5 * * * *",  # when the reconciler runs
    },
    "RETRIES": {
        "MAX_RETRIES": 10,
        "MIN_BACKOFF_MS": 15_000,
        "MAX_BACKOFF_MS": 3_600_000,
    },
    "WORKER": {
        "MAINTENANCE_INTERVAL_MS": 5_000,  # how often a worker requeues a dead worker's messages
        "WARM_UP": [],  # dotted paths of callables each worker process runs once at boot, before its first job
    },
    "CONSOLE": {
        "METRICS_TOKEN": "",  # bearer token for /metrics; empty: staff only
        "RECENT_LIMIT": 10_000,  # finished messages kept for the console
        "RECENT_MAX_AGE_S": 86_400,  # ... and for how long
        "BULK_INLINE_MAX": 1_000,  # bulk actions larger than this run in the background
    },
    "HEALTH": {
        "DEAD_LETTERS_MAX": 0,  # unhealthy when more dead letters than this ...
        "DEAD_LETTERS_WINDOW_S": 900,  # ... arrived in this window
        "OLDEST_READY_S": 300,  # unhealthy when a ready message waits longer
        "OUTBOX_AGE_S": 300,  # unhealthy when an outbox row is pending longer
        "OUTBOX_EMAIL_OWED_S": 1800,  # unhealthy when an outbox email is still owed this long after send()
        "EXTRA_CHECKS": [],  # dotted paths of callables returning a list of `health.Problem`
    },
    "ALERTS": {
        "ENABLED": None,  # None: on iff ADMINS is set
        "CRON": "* * * * *",  # how often the health checks run for alerts
        "INTERVAL_S": 3600,  # an unchanged problem is mailed again after this long
        "BASE_URL": "",  # prefix of the links in alert mail ("" → the path only)
    },
    "OUTBOX_EMAIL": {  # dramaturg.mail.OutboxEmailBackend
        "MAX_ATTACHMENTS_BYTES": 10 * 1024 * 1024,  # one email's attachments together; more raises at send()
        "ATTACHMENT_STORAGE": "",  # a STORAGES alias to keep attachments in; "": the database
    },
    "ERROR_MAIL": {
        "INTERVAL_S": 600,  # at most MAX error mails to ADMINS per this window
        "MAX": 10,
    },
    "WEB": {
        "RETRY_AFTER_S": 5,  # Retry-After of the 503 page when Redis or the database is down
        "BOUNDED_SLOTS": {},  # {name: slots per process} of the steps run under dramaturg.bounded.bounded(name)
        "BOUNDED_WAIT_S": 0.2,  # how long a request waits for a slot before it is shed (503)
        "OVERLOADED_RETRY_AFTER_S": 1,  # Retry-After of that 503
    },
    "CODE_VERSION": "",  # shown in the console and alerts; "" → "unknown"
}

# The package's Dramatiq middleware, in order; `dramatiq_broker()` lists them for you.
MIDDLEWARE: tuple[str, ...] = (
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.ShutdownNotifications",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Pipelines",
    "dramatiq.middleware.CurrentMessage",
    "dramaturg.middleware.validation.ValidateArguments",
    "dramaturg.middleware.task_results.TaskResults",  # before Retries: it then sees whether a task is given up
    "dramaturg.middleware.retries.ConfiguredRetries",
    "dramaturg.middleware.dead_letters.DeadLetterDetails",
    "dramaturg.middleware.stats.JobStats",
    "dramaturg.middleware.stop_signal.OneStopPerSignalBurst",
    "dramaturg.middleware.delayed.HeldDelayedMessages",
    "dramaturg.middleware.maintenance.QueueMaintenance",
    "periodiq.PeriodiqMiddleware",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "dramaturg.middleware.warm_up.WarmUp",
)


def merged(user: Any) -> dict[str, Any]:
    """`DEFAULTS` with `user` (the `DRAMATURG` setting) laid over it, group by group.

    Keys that are not in `DEFAULTS` and values of the wrong shape are left to `checks.py`
    to report; here a group that is not a dict is ignored rather than raising at import."""
    result: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in DEFAULTS.items()}
    if not isinstance(user, dict):
        return result
    for key, value in user.items():
        if isinstance(result.get(key), dict):
            if isinstance(value, dict):
                result[key].update(value)
        else:
            result[key] = value
    return result


class _Settings:
    """`conf.settings.GROUP.KEY`, built on first use and dropped when `DRAMATURG` changes."""

    _cache: SimpleNamespace | None = None

    def _load(self) -> SimpleNamespace:
        if self._cache is None:
            from django.conf import settings as django_settings

            values = merged(getattr(django_settings, "DRAMATURG", {}))
            self._cache = SimpleNamespace(
                **{k: SimpleNamespace(**v) if isinstance(v, dict) else v for k, v in values.items()}
            )
        return self._cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._load(), name)

    def reload(self) -> None:
        """Forget the cached values (Django's `setting_changed` calls this for `DRAMATURG`)."""
        self._cache = None


settings: Any = _Settings()


@receiver(setting_changed)
def _drop_cache(*, setting: str, **kwargs: Any) -> None:
    if setting == "DRAMATURG":
        settings.reload()


def dramatiq_broker(
    url: str = "redis://127.0.0.1:6379/0",
    *,
    sentinels: str = "",
    sentinel_master: str = "",
    password: str = "",
    sentinel_password: str = "",
    namespace: str = "dramatiq",
    heartbeat_timeout_ms: int = 60_000,
    dead_message_ttl_ms: int = 30 * 86_400_000,
    maintenance_chance: int = 1000,
    stray_check_interval_ms: int = 10_000,
    extra_middleware: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """The `DRAMATIQ_BROKER` setting (django_dramatiq's) for the package's Redis broker.

    `sentinels` ("host:port,host:port") makes every connection ask those sentinels for the
    master of `sentinel_master` (the URL then gives only the database and credentials).
    Imports no models and builds no broker, so a settings file can call it."""
    from .redis_connection import broker_connection_options

    return {
        "BROKER": "dramaturg.broker.RedisBroker",
        "OPTIONS": {
            **broker_connection_options(
                url, sentinels, sentinel_master, password=password, sentinel_password=sentinel_password
            ),
            "namespace": namespace,
            "heartbeat_timeout": heartbeat_timeout_ms,
            "dead_message_ttl": dead_message_ttl_ms,
            "maintenance_chance": maintenance_chance,
            "stray_check_interval_ms": stray_check_interval_ms,
        },
        "MIDDLEWARE": [*MIDDLEWARE, *extra_middleware],
    }


def heartbeat_timeout_ms() -> int:
    """After this long without a heartbeat a worker is dead: the broker's, so there is one source."""
    return int(_redis_broker().heartbeat_timeout)


def dead_message_ttl_ms() -> int:
    """How long a dead letter is kept: the broker's, so there is one source."""
    return int(_redis_broker().dead_message_ttl)


def _redis_broker() -> Any:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = dramatiq.get_broker()
    if not isinstance(broker, RedisBroker):
        raise TypeError(f"dramaturg needs a Redis broker (dramaturg.broker.RedisBroker), not {broker!r}")
    return broker
