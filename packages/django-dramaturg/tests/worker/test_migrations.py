"""Migrations that change data, played on the test database: migrated back, rows written as the older code
wrote them, migrated forward again."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE, AFTER = ("dramaturg", "0003_audit_actions"), ("dramaturg", "0004_email_audit_actions")


def migrate(target: tuple[str, str]):
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True)
def test_outbox_emails_sent_again_or_cancelled_before_are_audited_as_such():
    old = migrate(BEFORE).get_model("dramaturg", "AuditEntry")
    emails = {"emails": "outbox"}
    old.objects.create(action="requeue", scope="selected", filters=emails, requested=2, count=2)
    old.objects.create(action="kill", scope="one", filters=emails, requested=1, count=1)
    old.objects.create(action="requeue", scope="one", filters={"queue": "emails"}, requested=1, count=1)
    try:
        new = migrate(AFTER).get_model("dramaturg", "AuditEntry")
        assert list(new.objects.order_by("pk").values_list("action", "filters")) == [
            ("send_again", emails),
            ("cancel_email", emails),
            ("requeue", {"queue": "emails"}),  # a dead letter's requeue stays one
        ]
        back = migrate(BEFORE).get_model("dramaturg", "AuditEntry")
        assert list(back.objects.order_by("pk").values_list("action", flat=True)) == ["requeue", "kill", "requeue"]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("dramaturg")[0])
