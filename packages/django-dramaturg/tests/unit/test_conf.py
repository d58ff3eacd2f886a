"""dramaturg.conf (the DRAMATURG setting, the broker setting) and dramaturg.checks (one test per id)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from dramaturg import conf
from dramaturg.checks import check_settings

pytestmark = pytest.mark.unit


def ids(**overrides: Any) -> list[tuple[str, str]]:
    with override_settings(**overrides):
        return [(m.id or "", m.msg) for m in check_settings()]


def broker_without(path: str) -> dict[str, Any]:
    broker = copy.deepcopy(django_settings.DRAMATIQ_BROKER)
    broker["MIDDLEWARE"] = [m for m in broker["MIDDLEWARE"] if m != path]
    return broker


def test_defaults_pass_every_check() -> None:
    assert ids(DRAMATURG={}) == []


def test_settings_are_the_defaults_merged_with_dramaturg_and_follow_override_settings() -> None:
    with override_settings(DRAMATURG={"RETRIES": {"MAX_RETRIES": 3}}):
        assert conf.settings.RETRIES.MAX_RETRIES == 3
        assert conf.settings.RETRIES.MIN_BACKOFF_MS == 15_000
    with override_settings(DRAMATURG={"CODE_VERSION": "v1"}):
        assert conf.settings.CODE_VERSION == "v1"
        assert conf.settings.RETRIES.MAX_RETRIES == 10


def test_every_duration_key_names_its_unit() -> None:
    for group in conf.DEFAULTS.values():
        if isinstance(group, dict):
            for key, value in group.items():
                words = set(key.split("_"))
                if words & {"TIMEOUT", "INTERVAL", "AFTER", "AGE"}:
                    assert key.endswith(("_S", "_MS")), key
                if isinstance(value, int) and "RATE" in key:
                    assert key.endswith("_PER_S"), key


def test_dramatiq_broker_lists_the_packages_middleware_and_passes_the_checks() -> None:
    broker = conf.dramatiq_broker(
        "redis://127.0.0.1:6379/3", namespace="ns", heartbeat_timeout_ms=5_000, extra_middleware=["x.Y"]
    )
    assert broker["BROKER"] == "dramaturg.broker.RedisBroker"
    assert broker["OPTIONS"]["namespace"] == "ns"
    assert broker["OPTIONS"]["heartbeat_timeout"] == 5_000
    assert broker["OPTIONS"]["url"].startswith("redis://127.0.0.1:6379/3")
    assert broker["MIDDLEWARE"] == [*conf.MIDDLEWARE, "x.Y"]
    assert ids(DRAMATIQ_BROKER=broker) == []


def test_not_a_dict_is_E001() -> None:
    [(id_, msg)] = ids(DRAMATURG=["RETRIES"])
    assert id_ == "dramaturg.E001" and "expected a dict" in msg
    [(id_, msg)] = ids(DRAMATURG={"RETRIES": 5})
    assert id_ == "dramaturg.E001" and "DRAMATURG['RETRIES'] is 5" in msg


def test_unknown_key_is_E002_and_names_the_close_match() -> None:
    with override_settings(DRAMATURG={"EMAIL": {"TIMEOUT": 5}}):
        [error] = check_settings()
    assert error.id == "dramaturg.E002"
    assert "DRAMATURG['EMAIL']['TIMEOUT']" in error.msg
    assert error.hint == "did you mean 'TIMEOUT_S'?"


def test_wrong_type_is_E003() -> None:
    [(id_, msg)] = ids(DRAMATURG={"CONSOLE": {"RECENT_LIMIT": "100"}})
    assert id_ == "dramaturg.E003"
    assert msg == "DRAMATURG['CONSOLE']['RECENT_LIMIT'] is '100' (str); expected an integer."
    assert [i for i, _ in ids(DRAMATURG={"ALERTS": {"ENABLED": "yes"}})] == ["dramaturg.E003"]
    assert [i for i, _ in ids(DRAMATURG={"HEALTH": {"EXTRA_CHECKS": "a.b"}})] == ["dramaturg.E003"]
    assert [i for i, _ in ids(DRAMATURG={"WEB": {"BOUNDED_SLOTS": {"hash": 0}}})] == ["dramaturg.E003"]
    assert [i for i, _ in ids(DRAMATURG={"WEB": {"BOUNDED_WAIT_S": -0.5}})] == ["dramaturg.E003"]
    assert ids(DRAMATURG={"WEB": {"BOUNDED_SLOTS": {"hash": 2}, "BOUNDED_WAIT_S": 0.25}}) == []


def test_negative_or_zero_where_positive_is_E004() -> None:
    [(id_, msg)] = ids(DRAMATURG={"EMAIL": {"RATE_PER_S": 0}})
    assert id_ == "dramaturg.E004"
    assert msg == "DRAMATURG['EMAIL']['RATE_PER_S'] is 0; expected greater than 0."
    [(id_, msg)] = ids(DRAMATURG={"HEALTH": {"OUTBOX_AGE_S": -1}})
    assert (id_, msg) == ("dramaturg.E004", "DRAMATURG['HEALTH']['OUTBOX_AGE_S'] is -1; expected 0 or more.")
    [(id_, msg)] = ids(DRAMATURG={"HEALTH": {"OUTBOX_EMAIL_OWED_S": 0}})
    assert (id_, msg) == ("dramaturg.E004", "DRAMATURG['HEALTH']['OUTBOX_EMAIL_OWED_S'] is 0; expected greater than 0.")


def test_min_backoff_above_max_is_E005() -> None:
    [(id_, msg)] = ids(DRAMATURG={"RETRIES": {"MIN_BACKOFF_MS": 10, "MAX_BACKOFF_MS": 5}})
    assert id_ == "dramaturg.E005" and "is 10" in msg and "5" in msg


def test_unreadable_cron_is_E006() -> None:
    [(id_, msg)] = ids(DRAMATURG={"SEND_ONCE": {"RECONCILE_CRON": "every minute"}})
    assert id_ == "dramaturg.E006"
    assert "DRAMATURG['SEND_ONCE']['RECONCILE_CRON'] is 'every minute'" in msg


def test_an_extra_check_or_warm_up_that_does_not_import_or_call_is_E007() -> None:
    for group, key in (("HEALTH", "EXTRA_CHECKS"), ("WORKER", "WARM_UP")):
        found = ids(DRAMATURG={group: {key: ["no.such.module.check", "dramaturg.conf.DEFAULTS"]}})
        assert [i for i, _ in found] == ["dramaturg.E007", "dramaturg.E007"]
        assert "'no.such.module.check', which does not import" in found[0][1]
        assert "'dramaturg.conf.DEFAULTS', which is not callable" in found[1][1]
        assert [i for i, _ in ids(DRAMATURG={group: {key: "a.b"}})] == ["dramaturg.E003"]


def test_wrong_broker_or_missing_middleware_is_E008() -> None:
    broker = {**django_settings.DRAMATIQ_BROKER, "BROKER": "dramatiq.brokers.stub.StubBroker"}
    [(id_, msg)] = ids(DRAMATIQ_BROKER=broker)
    assert id_ == "dramaturg.E008" and "'dramatiq.brokers.stub.StubBroker'" in msg
    [(id_, msg)] = ids(DRAMATIQ_BROKER=broker_without("dramaturg.middleware.retries.ConfiguredRetries"))
    assert id_ == "dramaturg.E008"
    assert "DRAMATIQ_BROKER['MIDDLEWARE'] lacks 'dramaturg.middleware.retries.ConfiguredRetries'" in msg


def test_django_dramatiq_not_installed_is_E009() -> None:
    apps = [a for a in django_settings.INSTALLED_APPS if a != "django_dramatiq"]
    with override_settings(INSTALLED_APPS=apps):
        found = [(m.id, m.msg) for m in check_settings()]
    assert [i for i, _ in found] == ["dramaturg.E009"]


def test_time_limit_below_the_mail_timeouts_is_W001() -> None:
    [(id_, msg)] = ids(DRAMATURG={"EMAIL": {"TIME_LIMIT_MS": 60_000}})
    assert id_ == "dramaturg.W001" and "expected at least (TIMEOUT_S + DATA_TIMEOUT_S) * 1000 = 610000" in msg


def test_alerts_on_without_admins_is_W002() -> None:
    assert [i for i, _ in ids(DRAMATURG={"ALERTS": {"ENABLED": True}}, ADMINS=[])] == ["dramaturg.W002"]


def test_mailer_timeout_other_than_email_timeout_is_W003() -> None:
    mailers = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend", "OPTIONS": {"timeout": 3}}}
    [(id_, msg)] = ids(MAILERS=mailers)
    assert id_ == "dramaturg.W003" and "is 3 but DRAMATURG['EMAIL']['TIMEOUT_S'] is 10" in msg


OUTBOX = "dramaturg.mail.OutboxEmailBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


def test_an_attachment_storage_not_in_storages_is_E010() -> None:
    [(id_, msg)] = ids(DRAMATURG={"OUTBOX_EMAIL": {"ATTACHMENT_STORAGE": "s3"}})
    assert id_ == "dramaturg.E010" and "'s3', which is not a key of STORAGES" in msg
    assert ids(DRAMATURG={"OUTBOX_EMAIL": {"ATTACHMENT_STORAGE": "default"}}) == []


def test_an_attachment_limit_that_is_not_an_integer_is_E003() -> None:
    [(id_, _)] = ids(DRAMATURG={"OUTBOX_EMAIL": {"MAX_ATTACHMENTS_BYTES": "10MB"}})
    assert id_ == "dramaturg.E003"


@pytest.mark.parametrize(
    "mailers, named",
    [
        ({"default": {"BACKEND": OUTBOX}}, "MAILERS['smtp'], which is not defined"),  # the default alias, "smtp"
        ({"default": {"BACKEND": OUTBOX, "OPTIONS": {"mailer": "x"}}, "x": {"BACKEND": OUTBOX}}, "another outbox"),
    ],
)
def test_an_outbox_mailer_that_hands_to_no_sending_mailer_is_E011(mailers: dict, named: str) -> None:
    found = ids(MAILERS=mailers)
    assert {id_ for id_, _ in found} == {"dramaturg.E011"} and any(named in msg for _, msg in found)


def test_W003_looks_at_the_mailer_the_outbox_hands_to() -> None:
    smtp = {"BACKEND": LOCMEM, "OPTIONS": {"timeout": 3}}
    [(id_, msg)] = ids(MAILERS={"default": {"BACKEND": OUTBOX}, "smtp": smtp})
    assert id_ == "dramaturg.W003" and msg.startswith("MAILERS['smtp']['OPTIONS']['timeout'] is 3")


def test_email_actor_options_follow_the_email_group() -> None:
    from dramaturg.sendonce import email_actor_options

    with override_settings(DRAMATURG={"EMAIL": {"QUEUE": "mail", "MAX_RETRIES": 2, "TIME_LIMIT_MS": 700_000}}):
        assert email_actor_options() == {"queue_name": "mail", "max_retries": 2, "time_limit": 700_000}
