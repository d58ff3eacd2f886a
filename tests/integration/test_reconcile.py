"""The reconciler: the database says which emails are owed; Redis losing its queue loses none of them."""

import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import tasks
from accounts.models import EmailDelivery, User
from dramaturg import conf
from dramaturg.models import OutboxEmail, OutboxMessage
from dramaturg.store import queues
from harness.http import post_json
from harness.processes import ManagedProcess, RedisServer, WorkerProcess, child_env, stop_all, wait_for
from harness.smtp_sink import free_port

PASSWORD = "correct-horse-battery-staple"


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def owe(email: str, age: timedelta = timedelta(hours=1), **fields):
    """A user and an owed delivery created `age` ago, without the signal's job: as if Redis had lost it."""
    [user] = User.objects.bulk_create([User(email=email)])
    delivery = EmailDelivery.objects.create(user=user, **fields)
    EmailDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - age)
    return delivery


@pytest.fixture
def session_worker_held(worker):
    """The session's worker, if earlier tests started it, held still (SIGSTOP to its process group) so that
    what the reconciler enqueues stays in the queue to be looked at; let go after the namespace is cleared
    (request it before clean_redis)."""
    worker.signal(signal.SIGSTOP, group=True)
    yield
    worker.signal(signal.SIGCONT, group=True)


@pytest.mark.django_db
def test_owed_emails_older_than_the_threshold_are_reenqueued_once_per_period(session_worker_held, clean_redis):
    now = timezone.now()
    owed = [
        owe("old@example.com"),
        owe("lease-expired@example.com", status="sending", claimed_until=now - timedelta(seconds=1)),
    ]
    owe("fresh@example.com", age=timedelta(seconds=30))
    owe("sent@example.com", status="sent", sent_at=now)
    owe("failed@example.com", status="failed")
    owe("being-sent@example.com", status="sending", claimed_until=now + timedelta(minutes=1))

    tasks.reconcile_deliveries.fn()  # what the scheduler runs, with SEND_ONCE_RECONCILE_AFTER_S (600)
    assert queues.queue_counts("emails").ready == 2
    queued = sorted((m.data["actor_name"], m.data["args"][0]) for m in queues.page_ready("emails"))
    assert queued == sorted([("send_welcome_email", owed[0].user_id), ("send_welcome_email", owed[1].user_id)])
    assert set(EmailDelivery.objects.filter(reconciled_at__isnull=False).values_list("pk", flat=True)) == {
        d.pk for d in owed
    }
    tasks.reconcile_deliveries.fn()  # just reconciled: not again before another period
    assert queues.queue_counts("emails").ready == 2


def test_the_reconciler_is_scheduled_on_the_emails_queue():
    actor = tasks.reconcile_deliveries
    assert actor.queue_name == "emails"
    assert str(actor.options["periodic"]) == conf.settings.SEND_ONCE.RECONCILE_CRON == "*/5 * * * *"


@pytest.mark.django_db(transaction=True)
def test_reconcile_with_redis_down_is_a_one_line_error(clean_redis):
    delivery = owe("unlucky@example.com")
    result = manage(child_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"), "reconcile_deliveries")
    assert result.returncode == 1
    assert result.stderr.startswith("CommandError: Redis is unreachable") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr + result.stdout
    delivery.refresh_from_db()
    assert delivery.reconciled_at is None  # still owed; the next run takes it


@pytest.mark.integration
def test_redis_loses_its_queue_the_reconciler_restores_it_every_email_arrives_once(
    worker, smtp, transactional_db, clean_redis, tmp_path
):
    redis_server = RedisServer(tmp_path / "redis", appendonly=False).start()
    env = child_env(REDIS_URL=redis_server.url, DRAMATIQ_NAMESPACE="reconcile", EMAIL_URL=smtp.url)
    port = free_port()
    processes = [ManagedProcess(["runserver", f"127.0.0.1:{port}", "--noreload"], env, b"Quit the server", "web")]
    try:
        processes[0].start()
        emails = [f"lost{n}@example.com" for n in range(5)]
        for email in [*emails, "LOST0@example.com"]:  # the last: "you already have an account"
            status, body, _ = post_json(f"http://127.0.0.1:{port}/api/signup/", {"email": email, "password": PASSWORD})
            assert status == 202, body
        assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 0  # all six jobs are in Redis
        redis_server.stop()  # no worker has run; without persistence the queue is gone
        redis_server.start()

        assert manage(env, "reconcile_deliveries").stdout.strip() == "Re-enqueued 0 owed email(s)."  # too fresh
        first = manage(env, "reconcile_deliveries", "--older-than", "0")  # the welcome emails
        assert (first.returncode, first.stdout.strip()) == (0, "Re-enqueued 5 owed email(s)."), first.stderr
        # Every send-once row, the notice (an outbox email: plain Django mail) included; an extra enqueue is harmless.
        again = manage(env, "reconcile_send_once", "--older-than", "0")
        assert again.stdout.strip() == "Re-enqueued 6 owed row(s).", again.stderr

        worker_process = WorkerProcess(env, queues=["emails"])
        processes.append(worker_process)
        worker_process.start()
        wait_for(lambda: len(smtp.received()) >= 6, timeout=60, what="six emails")
        # Positive evidence that the five duplicates (welcome emails enqueued by both commands) ran too.
        wait_for(
            lambda: worker_process.log_text().count("was already sent; nothing to do") >= 5,
            timeout=60,
            what="the duplicate jobs to find their emails sent",
        )
        received = Counter((m["To"], m["Subject"].split(" ")[0]) for m in smtp.received())
        assert received == {**{(e, "Welcome"): 1 for e in emails}, ("lost0@example.com", "You"): 1}
        assert EmailDelivery.objects.filter(status="sent").count() == 5
        assert OutboxEmail.objects.get().status == "sent"
    finally:
        stop_all(processes)
        redis_server.kill()
