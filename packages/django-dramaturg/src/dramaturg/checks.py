"""Internal: system checks of the `DRAMATURG` setting and the broker wiring (tag `dramaturg`).

Every message names the key path, the value found and what is expected, so a typo in a
settings file is caught by `manage.py check` instead of by a worker at 3 a.m.
"""

from __future__ import annotations

import difflib
from typing import Any

from django.conf import settings as django_settings
from django.core import checks
from django.utils.module_loading import import_string

from .conf import DEFAULTS, merged

# Middleware the package cannot work without (results, retries, dead letters, stats, maintenance, periodic).
REQUIRED_MIDDLEWARE: dict[str, str] = {
    "dramatiq.middleware.CurrentMessage": "the worker side needs the message it runs (result id, attempt)",
    "dramaturg.middleware.task_results.TaskResults": "it records task results as they are enqueued and finish",
    "dramaturg.middleware.retries.ConfiguredRetries": "it applies DRAMATURG['RETRIES']",
    "dramaturg.middleware.dead_letters.DeadLetterDetails": "it records why a message died",
    "dramaturg.middleware.stats.JobStats": "the console's counts and recent messages come from it",
    "dramaturg.middleware.maintenance.QueueMaintenance": "it requeues a dead worker's messages",
    "periodiq.PeriodiqMiddleware": "periodic actors (health alerts, the reconciler) need it",
    "dramaturg.middleware.warm_up.WarmUp": "it runs DRAMATURG['WORKER']['WARM_UP'] in each worker process at boot",
}
# Keys whose zero would stop the work they govern.
MUST_BE_POSITIVE = {
    ("EMAIL", "RATE_PER_S"),
    ("EMAIL", "TIMEOUT_S"),
    ("EMAIL", "DATA_TIMEOUT_S"),
    ("SEND_ONCE", "LEASE_S"),
    ("HEALTH", "OUTBOX_EMAIL_OWED_S"),  # 0 would call every email not yet sent a problem
    ("CONSOLE", "RECENT_LIMIT"),
}
CRONS = {("ALERTS", "CRON"), ("SEND_ONCE", "RECONCILE_CRON")}
STRINGS = {
    ("EMAIL", "QUEUE"),
    ("CONSOLE", "METRICS_TOKEN"),
    ("ALERTS", "BASE_URL"),
    ("OUTBOX_EMAIL", "ATTACHMENT_STORAGE"),
}


def _path(*keys: str) -> str:
    return "DRAMATURG" + "".join(f"[{k!r}]" for k in keys)


def _unknown(key: str, known: Any, *path: str) -> checks.Error:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(known))}"
    return checks.Error(f"{_path(*path, key)} is not a setting of dramaturg.", hint=hint, id="dramaturg.E002")


def _shape_errors(user: Any) -> list[checks.CheckMessage]:
    """E001 (not a dict) and E002 (unknown key)."""
    if not isinstance(user, dict):
        return [
            checks.Error(
                f"DRAMATURG is {user!r} ({type(user).__name__}); expected a dict of groups.", id="dramaturg.E001"
            )
        ]
    errors: list[checks.CheckMessage] = []
    for group, value in user.items():
        if group not in DEFAULTS:
            errors.append(_unknown(group, DEFAULTS))
        elif isinstance(DEFAULTS[group], dict):
            if not isinstance(value, dict):
                errors.append(
                    checks.Error(
                        f"{_path(group)} is {value!r} ({type(value).__name__}); expected a dict.",
                        id="dramaturg.E001",
                    )
                )
                continue
            errors.extend(_unknown(key, DEFAULTS[group], group) for key in value if key not in DEFAULTS[group])
    return errors


def _value_errors(values: dict[str, Any]) -> list[checks.CheckMessage]:
    """E003 (type), E004 (sign), E006 (cron), E007 (extra health checks, warm-ups) of every known key."""
    from periodiq import CronSpec

    errors: list[checks.CheckMessage] = []
    for group, defaults in DEFAULTS.items():
        if not isinstance(defaults, dict):
            if not isinstance(values[group], str):
                errors.append(_type_error((group,), values[group], "a string"))
            continue
        for key, value in values[group].items():
            if key not in defaults:
                continue
            where = (group, key)
            if where == ("ALERTS", "ENABLED"):
                if value is not None and not isinstance(value, bool):
                    errors.append(_type_error(where, value, "True, False or None (on iff ADMINS is set)"))
            elif where == ("HEALTH", "EXTRA_CHECKS"):
                errors.extend(_callables_errors(where, value, "a callable returning dramaturg.health.Problem items"))
            elif where == ("WORKER", "WARM_UP"):
                errors.extend(_callables_errors(where, value, "a callable taking no argument"))
            elif where == ("WEB", "BOUNDED_SLOTS"):
                if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool) and n > 0
                    for k, n in value.items()
                ):
                    errors.append(_type_error(where, value, "a dict of names to slots per process (integers > 0)"))
            elif where == ("WEB", "BOUNDED_WAIT_S"):
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    errors.append(_type_error(where, value, "seconds, 0 or more (a float is fine)"))
            elif where in STRINGS or where in CRONS:
                if not isinstance(value, str):
                    errors.append(_type_error(where, value, "a string"))
                elif where in CRONS:
                    try:
                        CronSpec.parse(value)
                    except Exception as exc:  # periodiq raises ValueError or IndexError
                        errors.append(
                            checks.Error(
                                f"{_path(*where)} is {value!r}, which periodiq cannot read ({exc}); "
                                "expected five cron fields such as '*/5 * * * *'.",
                                id="dramaturg.E006",
                            )
                        )
            elif not isinstance(value, int) or isinstance(value, bool):
                errors.append(_type_error(where, value, "an integer"))
            elif value < 0 or (value == 0 and where in MUST_BE_POSITIVE):
                expected = "greater than 0" if where in MUST_BE_POSITIVE else "0 or more"
                errors.append(checks.Error(f"{_path(*where)} is {value}; expected {expected}.", id="dramaturg.E004"))
    return errors


def _type_error(where: tuple[str, ...], value: Any, expected: str) -> checks.Error:
    return checks.Error(
        f"{_path(*where)} is {value!r} ({type(value).__name__}); expected {expected}.", id="dramaturg.E003"
    )


def _callables_errors(where: tuple[str, str], value: Any, what: str) -> list[checks.CheckMessage]:
    """E003 when `value` is not a list of dotted paths; E007 for each that does not import or call."""
    if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
        return [_type_error(where, value, "a list of dotted paths to callables")]
    errors: list[checks.CheckMessage] = []
    for dotted in value:
        try:
            target = import_string(dotted)
        except ImportError as exc:
            errors.append(
                checks.Error(
                    f"{_path(*where)} names {dotted!r}, which does not import ({exc}); "
                    f"expected a dotted path to {what}.",
                    id="dramaturg.E007",
                )
            )
            continue
        if not callable(target):
            errors.append(
                checks.Error(
                    f"{_path(*where)} names {dotted!r}, which is not callable; expected a function.",
                    id="dramaturg.E007",
                )
            )
    return errors


def _broker_errors() -> list[checks.CheckMessage]:
    """E008 (broker class, required middleware) and E009 (django_dramatiq installed)."""
    errors: list[checks.CheckMessage] = []
    if "django_dramatiq" not in django_settings.INSTALLED_APPS:
        errors.append(
            checks.Error(
                "INSTALLED_APPS lacks 'django_dramatiq'; expected it (it configures the broker and runs rundramatiq).",
                id="dramaturg.E009",
            )
        )
    broker = getattr(django_settings, "DRAMATIQ_BROKER", None)
    if not isinstance(broker, dict):
        return [
            *errors,
            checks.Error(
                f"DRAMATIQ_BROKER is {broker!r}; expected a dict.",
                hint="DRAMATIQ_BROKER = dramaturg.conf.dramatiq_broker(REDIS_URL)",
                id="dramaturg.E008",
            ),
        ]
    from .broker import RedisBroker

    path = broker.get("BROKER")
    try:
        cls = import_string(path) if isinstance(path, str) else None
    except ImportError:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, RedisBroker)):
        errors.append(
            checks.Error(
                f"DRAMATIQ_BROKER['BROKER'] is {path!r}; expected 'dramaturg.broker.RedisBroker' or a subclass.",
                hint="DRAMATIQ_BROKER = dramaturg.conf.dramatiq_broker(REDIS_URL)",
                id="dramaturg.E008",
            )
        )
    middleware = broker.get("MIDDLEWARE", [])
    for required, why in REQUIRED_MIDDLEWARE.items():
        if required not in middleware:
            errors.append(
                checks.Error(
                    f"DRAMATIQ_BROKER['MIDDLEWARE'] lacks {required!r}; expected it: {why}.",
                    hint="start the list from dramaturg.conf.MIDDLEWARE",
                    id="dramaturg.E008",
                )
            )
    return errors


def _warnings(values: dict[str, Any]) -> list[checks.CheckMessage]:
    """W001 (email time limit), W002 (alerts without ADMINS), W003 (mailer timeout)."""
    warnings: list[checks.CheckMessage] = []
    email = values["EMAIL"]
    if all(isinstance(email[k], int) for k in ("TIME_LIMIT_MS", "TIMEOUT_S", "DATA_TIMEOUT_S")):
        floor_ms = (email["TIMEOUT_S"] + email["DATA_TIMEOUT_S"]) * 1000
        if email["TIME_LIMIT_MS"] < floor_ms:
            warnings.append(
                checks.Warning(
                    f"{_path('EMAIL', 'TIME_LIMIT_MS')} is {email['TIME_LIMIT_MS']}; expected at least "
                    f"(TIMEOUT_S + DATA_TIMEOUT_S) * 1000 = {floor_ms}: a send can be killed while the "
                    "server may be delivering it.",
                    id="dramaturg.W001",
                )
            )
    if values["ALERTS"]["ENABLED"] is True and not getattr(django_settings, "ADMINS", None):
        warnings.append(
            checks.Warning(
                f"{_path('ALERTS', 'ENABLED')} is True but ADMINS is empty; expected ADMINS to name who gets alerts.",
                id="dramaturg.W002",
            )
        )
    mailers = getattr(django_settings, "MAILERS", None)
    alias = _sending_alias(mailers)
    sending = mailers.get(alias) if isinstance(mailers, dict) else None
    options = sending.get("OPTIONS") if isinstance(sending, dict) else None
    timeout = options.get("timeout") if isinstance(options, dict) else None
    if timeout is not None and timeout != email["TIMEOUT_S"]:
        warnings.append(
            checks.Warning(
                f"MAILERS[{alias!r}]['OPTIONS']['timeout'] is {timeout!r} but {_path('EMAIL', 'TIMEOUT_S')} is "
                f"{email['TIMEOUT_S']!r}; expected the same value (claims wait for one send's timeout).",
                id="dramaturg.W003",
            )
        )
    return warnings


def _sending_alias(mailers: Any) -> str:
    if not isinstance(mailers, dict):
        return "default"
    from .mail.outbox import sending_alias

    return sending_alias()


def _outbox_email_errors(values: dict[str, Any]) -> list[checks.CheckMessage]:
    """E010 (attachment storage) and E011 (what an OutboxEmailBackend mailer hands to)."""
    from .mail.outbox import DEFAULT_MAILER, is_outbox_backend

    errors: list[checks.CheckMessage] = []
    storage = values["OUTBOX_EMAIL"]["ATTACHMENT_STORAGE"]
    known_storages = getattr(django_settings, "STORAGES", {})
    if isinstance(storage, str) and storage and storage not in known_storages:
        errors.append(
            checks.Error(
                f"{_path('OUTBOX_EMAIL', 'ATTACHMENT_STORAGE')} is {storage!r}, which is not a key of STORAGES; "
                f"expected one of {sorted(known_storages)} or '' (the database).",
                id="dramaturg.E010",
            )
        )
    mailers = getattr(django_settings, "MAILERS", {})
    if not isinstance(mailers, dict):
        return errors
    for alias, config in mailers.items():
        if not (isinstance(config, dict) and is_outbox_backend(config.get("BACKEND", ""))):
            continue
        options = config.get("OPTIONS")
        target = options.get("mailer", DEFAULT_MAILER) if isinstance(options, dict) else DEFAULT_MAILER
        target_config = mailers.get(target)
        if not isinstance(target_config, dict) or is_outbox_backend(target_config.get("BACKEND", "")):
            errors.append(
                checks.Error(
                    f"MAILERS[{alias!r}] is an outbox backend that hands its emails to MAILERS[{target!r}], "
                    f"which is {'another outbox backend' if isinstance(target_config, dict) else 'not defined'}; "
                    "expected the alias of a mailer that sends (e.g. 'smtp': dramaturg.mail.EmailBackend).",
                    hint="OPTIONS {'mailer': '<alias>'} names it (default 'smtp')",
                    id="dramaturg.E011",
                )
            )
    return errors


@checks.register("dramaturg")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every `dramaturg.E0xx`/`W0xx` check; ids are documented in docs/settings.md."""
    user = getattr(django_settings, "DRAMATURG", {})
    errors = _shape_errors(user)
    if any(e.id == "dramaturg.E001" for e in errors):
        return errors + _broker_errors()
    values = merged(user)
    errors += _value_errors(values)
    retries = values["RETRIES"]
    low, high = retries["MIN_BACKOFF_MS"], retries["MAX_BACKOFF_MS"]
    if isinstance(low, int) and isinstance(high, int) and low > high:
        errors.append(
            checks.Error(
                f"{_path('RETRIES', 'MIN_BACKOFF_MS')} is {low}, more than {_path('RETRIES', 'MAX_BACKOFF_MS')} "
                f"{high}; expected MIN_BACKOFF_MS <= MAX_BACKOFF_MS.",
                id="dramaturg.E005",
            )
        )
    return errors + _outbox_email_errors(values) + _broker_errors() + _warnings(values)
