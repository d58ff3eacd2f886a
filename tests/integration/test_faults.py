"""Nothing lost, nothing twice: real processes, real signals, a real redis-server stopped and restarted."""

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from dramatiq import Message, get_broker

from accounts.models import EmailDelivery, User
from dramaturg import actions, conf
from dramaturg.models import AuditEntry, OutboxMessage
from dramaturg.store import dead_letters, keys, queues
from dramaturg.store.connection import client
from dramaturg.store.dead_letters import DeadLetterRef
from dramaturg.store.filters import MessageFilter
from harness import store_probe
from harness.dead_letters import poison
from harness.http import post_json
from harness.processes import ManagedProcess, ProcessStack, RedisServer, WorkerProcess, child_env, wait_for

pytestmark = [pytest.mark.integration]
PASSWORD = "correct-horse-battery-staple"


class Stack(ProcessStack):
    """Web, worker(s) and outbox relay as separate processes on a Redis server of the test's own."""

    def __init__(self, redis_server: RedisServer, smtp):
        self.redis = redis_server
        env = child_env(
            REDIS_URL=redis_server.url,
            DRAMATIQ_NAMESPACE="fault",
            EMAIL_URL=smtp.url,
            DRAMATIQ_HEARTBEAT_TIMEOUT_MS="3000",
            DRAMATIQ_MAINTENANCE_CHANCE="1000000",
            EMAIL_TIME_LIMIT_MS="5000",
            EMAIL_SEND_LEASE_S="3",
        )
        super().__init__(env)

    def signup(self, email: str) -> int:
        status, body, _ = post_json(f"http://127.0.0.1:{self.port}/api/signup/", {"email": email, "password": PASSWORD})
        assert status == 202, body
        return User.objects.get(email=email).pk

    def quiet(self) -> bool:
        """Nothing of the emails queue is left in the stack's Redis (ready, delayed or in
        progress) and every delivery is settled: no job is left that could send again."""
        conn = redis.Redis.from_url(self.redis.url, socket_connect_timeout=1)
        try:
            pipe = conn.pipeline(transaction=False)
            for key in ("fault:emails", "fault:emails.msgs", "fault:emails.DQ.msgs"):
                pipe.exists(key)
            if any(pipe.execute()):
                return False
        except redis.RedisError:
            return False
        finally:
            conn.close()
        return not EmailDelivery.objects.exclude(status__in=["sent", "failed"]).exists()

    def wait_quiet(self) -> None:
        wait_for(self.quiet, timeout=60, interval=0.2, what="the stack to be quiet (no job left to run)")


@pytest.fixture
def stack(live, smtp, tmp_path):
    redis_server = RedisServer(tmp_path / "redis").start()
    stack = Stack(redis_server, smtp)
    yield stack
    stack.stop()
    redis_server.kill()


def test_signup_while_redis_is_down_is_emailed_once_redis_returns(stack, smtp, fault_summary):
    stack.web()
    worker = stack.worker()
    stack.relay()
    stack.redis.stop()
    user_ids = [stack.signup(f"offline{n}@example.com") for n in range(3)]
    assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 3
    relay = stack.processes[-1]
    wait_for(
        lambda: "connection error" in worker.log_text().lower() and "failed" in relay.log_text(),
        what="the worker and the relay to meet the outage",
    )
    stack.redis.start()
    wait_for(lambda: len(smtp.received()) >= 3, timeout=60, what="the emails after Redis came back")
    stack.wait_quiet()
    fault_summary("signup with Redis down, then Redis back", 3, smtp.received())
    assert sorted(m["To"] for m in smtp.received()) == [f"offline{n}@example.com" for n in range(3)]
    assert worker.proc.poll() is None, "the worker survived the outage"
    assert "connection error" in worker.log_text().lower()
    assert EmailDelivery.objects.filter(user_id__in=user_ids, status="sent").count() == 3


def test_web_process_killed_between_commit_and_dispatch(stack, smtp, fault_summary):
    stack.worker()
    stack.relay()
    # The first on-commit callback kills the process: the user is committed, the dispatch never runs.
    code = (
        "import os, signal\n"
        "from django.db import transaction\n"
        "from accounts.models import User\n"
        "with transaction.atomic():\n"
        "    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))\n"
        f"    User.objects.create_user('killed@example.com', '{PASSWORD}')\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=settings.BASE_DIR, env=stack.env, capture_output=True
    )
    assert result.returncode == -signal.SIGKILL
    assert OutboxMessage.objects.get().dispatched_at is None
    wait_for(lambda: smtp.received("killed@example.com"), timeout=40, what="the relayed email")
    stack.wait_quiet()
    fault_summary("web process SIGKILLed between commit and dispatch", 1, smtp.received())
    assert len(smtp.received("killed@example.com")) == 1


def test_worker_killed_mid_job_the_job_completes_on_another_once(stack, smtp, fault_summary):
    stack.web()
    first = stack.worker(threads=1)
    smtp.handler.rcpt_delay = 30.0  # the send is under way, nothing delivered yet
    user_id = stack.signup("crash@example.com")
    wait_for(lambda: smtp.handler.rcpts >= 1, what="the first worker to be mid-send")
    # Frozen mid-send at once (its time limit too), however long the second worker takes to start:
    # no window in which the first could finish the send before it is killed.
    first.signal(signal.SIGSTOP, group=True)
    stack.worker()
    first.signal(signal.SIGKILL, group=True)
    smtp.handler.rcpt_delay = 0.0
    wait_for(lambda: smtp.received("crash@example.com"), timeout=60, what="the email from the second worker")
    stack.wait_quiet()
    fault_summary("worker SIGKILLed mid-job", 1, smtp.received())
    assert len(smtp.received("crash@example.com")) == 1
    delivery = EmailDelivery.objects.get(user_id=user_id)
    # The killed worker's claim and the second worker's; a second-worker attempt cut by the time limit on a
    # loaded machine claims once more, but no claim after the first sends again (one email, above).
    assert delivery.status == "sent" and delivery.attempts >= 2


def test_queued_jobs_survive_a_redis_restart_with_aof(stack, smtp, fault_summary):
    stack.web()
    for n in range(5):
        stack.signup(f"durable{n}@example.com")
    assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 0  # all in Redis now
    stack.redis.stop()
    stack.redis.start()
    stack.worker()
    wait_for(lambda: len(smtp.received()) >= 5, timeout=40, what="the jobs queued before the restart")
    stack.wait_quiet()
    fault_summary("Redis restarted (AOF) with 5 jobs queued", 5, smtp.received())
    assert len(smtp.received()) == 5


def test_sigterm_lets_the_running_job_finish_and_loses_none(stack, smtp, fault_summary):
    stack.web()
    worker = stack.worker(threads=1)
    smtp.handler.delay = 3.0
    for n in range(3):
        stack.signup(f"graceful{n}@example.com")
    wait_for(lambda: smtp.handler.rcpts >= 1, what="a job to be running")
    worker.signal(signal.SIGTERM)
    worker.proc.wait(30)
    assert len(smtp.received()) == 1, "the running job finished before the worker stopped"
    smtp.handler.delay = 0.0
    stack.worker()
    wait_for(lambda: len(smtp.received()) >= 3, timeout=40, what="the fetched but unstarted jobs")
    stack.wait_quiet()
    fault_summary("SIGTERM during a job (1 running, 2 fetched)", 3, smtp.received())
    assert len(smtp.received()) == 3 and len({m["To"] for m in smtp.received()}) == 3


def test_poison_messages_are_dead_lettered_and_the_worker_stays_healthy(live, worker, smtp, clean_redis):
    broker = get_broker()
    poison(1)
    broker.do_enqueue("emails", str(uuid.uuid4()), b"{this is not json")
    broker.do_enqueue("emails", str(uuid.uuid4()), b'{"hello": "not a message"}')
    broker.enqueue(Message(queue_name="emails", actor_name="send_welcome_email", args=(1, 2, 3), kwargs={}, options={}))
    wait_for(lambda: store_probe.count_dead("emails") == 4, what="four dead letters")
    groups = {
        (g.actor_name, g.exception_type): g.count for g in dead_letters.dead_groups(MessageFilter(queue="emails"))
    }
    assert groups == {
        ("no_such_actor", "ActorNotFound"): 1,
        ("", "DecodeError"): 2,
        ("send_welcome_email", "TypeError"): 1,
    }
    [bad_args] = dead_letters.page_dead(MessageFilter(queue="emails", exception="TypeError")).messages
    assert bad_args.retries == 0 and "Arguments do not fit send_welcome_email(user_id: 'int')" in bad_args.reason
    bodies = {
        dead_letters.get_dead(DeadLetterRef.parse(m.ref)).data.get("undecodable")
        for m in dead_letters.page_dead(MessageFilter(queue="emails", exception="DecodeError")).messages
    }
    assert bodies == {"{this is not json", '{"hello": "not a message"}'}
    assert (
        actions.perform(
            None,
            AuditEntry.Action.REQUEUE,
            "selected",
            refs=[DeadLetterRef.parse(m.ref) for m in dead_letters.page_dead(MessageFilter(queue="emails")).messages],
        ).count
        == 2
    )  # not the raw

    from accounts.models import User

    User.objects.create_user("after-poison@example.com", PASSWORD)
    wait_for(lambda: smtp.received("after-poison@example.com"), what="a normal job after the poison")
    assert worker.proc.poll() is None
    # the job's ack follows its email (acks are batched): nothing stays in progress
    wait_for(lambda: queues.queue_counts("emails").in_progress == 0, what="nothing in progress")


@pytest.mark.long  # started first on an xdist worker (harness.fixtures.long_first)
def test_a_burst_of_1000_signups_sends_1000_emails_within_the_rate_limit(
    live, worker, smtp, clean_redis, start_worker, fault_summary
):
    start_worker(["emails"], processes=2, threads=4)
    emails = [f"burst{n}@example.com" for n in range(1000)]
    shed = Counter[str]()

    def sign_up(email: str) -> int:
        # A loaded server sheds a signup past its hashing slots with a 503 that wrote nothing; a client tries again.
        for _ in range(50):
            status = post_json(f"{live.url}/api/signup/", {"email": email, "password": PASSWORD})[0]
            if status != 503:
                return status
            shed[email] += 1
        return status

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(sign_up, emails))
    assert Counter(statuses) == {202: 1000}, f"shed with 503: {sum(shed.values())}"
    wait_for(lambda: len(smtp.received()) >= 1000, timeout=180, interval=0.5, what="1000 emails")
    wait_for(
        lambda: queues.queue_counts("emails") == queues.QueueCounts("emails", 0, 0, 0, 0),
        timeout=60,
        what="no job left that could send again",
    )
    received = smtp.received()
    fault_summary("1,000 signups in a burst", 1000, received)
    assert sorted(m["To"] for m in received) == sorted(emails)
    per_second = Counter(int(t) for t in smtp.received_at())
    limit = conf.settings.EMAIL.RATE_PER_S
    # The limiter counts sends when they start; arrivals may slip into the next second.
    assert max(per_second.values()) <= limit * 1.1, per_second.most_common(3)
    assert len(per_second) >= 1000 // limit


# --- Nothing lost, proven: a Redis outage mid-job, a killed worker, malformed messages, secrets -------------


def _own_worker(stack: Stack, threads: int = 2, drop: tuple[str, ...] = (), **env: str) -> ManagedProcess:
    """A worker of the stack with its environment changed (`drop` removes variables)."""
    worker_env = {k: v for k, v in stack.env.items() if k not in drop}
    worker_env.update(env)
    return stack._start(WorkerProcess(worker_env, threads=threads, queues=["emails"]))


@contextmanager
def database_write_lock():
    """Hold the write lock on the delivery rows (SQLite: the whole file) until the block ends,
    so a job that claims its delivery waits, mid-run, on the database."""
    with transaction.atomic(), connection.cursor() as cursor:
        table = connection.ops.quote_name(EmailDelivery._meta.db_table)
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        else:
            cursor.execute(f"UPDATE {table} SET attempts = attempts")  # a write: SQLite's lock is now ours
        yield


def test_redis_lost_mid_job_loses_no_email(stack, smtp, fault_summary):
    """Redis goes away while 5 jobs wait on the database; their retries cannot be enqueued
    (the SMTP rate limiter fails first). Once Redis is back, every email goes out, once."""
    stack.web()
    emails = [f"blip{n}@example.com" for n in range(5)]
    for email in emails:
        stack.signup(email)
    with database_write_lock():
        worker = _own_worker(stack, threads=5, LOG_LEVEL="DEBUG", EMAIL_TIME_LIMIT_MS="60000")
        wait_for(
            lambda: worker.log_text().count("Received message send_welcome_email(") >= 5,
            what="the 5 jobs to be running, waiting on the database",
        )
        stack.redis.stop()
    wait_for(
        lambda: worker.log_text().count("could not be enqueued") >= 5, timeout=60, what="the 5 failed retry enqueues"
    )
    assert not smtp.received()
    stack.redis.start()
    back = time.monotonic()
    wait_for(lambda: len(smtp.received()) >= 5, timeout=120, interval=0.2, what="the 5 emails after Redis returned")
    print(f"\n5/5 emails delivered {time.monotonic() - back:.1f} s after Redis returned")
    stack.wait_quiet()
    fault_summary("Redis lost mid-job (retry not enqueued), AOF", 5, smtp.received())
    assert sorted(m["To"] for m in smtp.received()) == emails
    assert worker.proc.poll() is None


def test_a_killed_workers_job_is_back_within_the_heartbeat_timeout(stack, smtp, fault_summary):
    """The default maintenance chance: the surviving worker's maintenance timer, not luck, brings the job back."""
    heartbeat_s = int(stack.env["DRAMATIQ_HEARTBEAT_TIMEOUT_MS"]) / 1000
    stack.web()
    first = _own_worker(stack, threads=1, drop=("DRAMATIQ_MAINTENANCE_CHANCE",))
    smtp.handler.rcpt_delay = 4.0  # the send is under way, nothing delivered yet
    user_id = stack.signup("killed-mid-job@example.com")
    wait_for(lambda: smtp.handler.rcpts >= 1, what="the first worker to be mid-send")
    _own_worker(stack, drop=("DRAMATIQ_MAINTENANCE_CHANCE",))
    first.signal(signal.SIGKILL, group=True)
    killed = time.monotonic()
    smtp.handler.rcpt_delay = 0.0
    wait_for(
        lambda: smtp.received("killed-mid-job@example.com"),
        timeout=heartbeat_s + 10 + 20,
        interval=0.2,
        what="the killed worker's job to run on the other worker",
    )
    print(
        f"\nemail from the surviving worker {time.monotonic() - killed:.1f} s after the SIGKILL "
        f"(heartbeat timeout {heartbeat_s:.0f} s, maintenance every "
        f"{conf.settings.WORKER.MAINTENANCE_INTERVAL_MS / 1000:.0f} s; the claim lease adds its own wait)"
    )
    stack.wait_quiet()
    fault_summary("worker SIGKILLed mid-job, default maintenance chance", 1, smtp.received())
    assert len(smtp.received("killed-mid-job@example.com")) == 1
    assert EmailDelivery.objects.get(user_id=user_id).status == "sent"


def test_messages_that_cannot_be_acked_are_dead_lettered_not_left_in_progress(live, worker, smtp, clean_redis):
    broker = get_broker()
    no_redis_id, options_list, no_body = (str(uuid.uuid4()) for _ in range(3))
    sound = Message(queue_name="emails", actor_name="send_welcome_email", args=(1,), kwargs={}, options={})
    broker.do_enqueue("emails", no_redis_id, sound.encode())  # written around the broker: no redis_message_id
    broker.do_enqueue("emails", options_list, json.dumps({**sound.asdict(), "options": ["eta", 1]}).encode())
    client().rpush(keys.queue_key("emails"), no_body)  # an id whose body was never stored
    wait_for(lambda: store_probe.count_dead("emails") == 3, what="three dead letters")
    groups = {
        (g.actor_name, g.exception_type): g.count for g in dead_letters.dead_groups(MessageFilter(queue="emails"))
    }
    assert groups == {("send_welcome_email", "MalformedMessage"): 2, ("", "MissingBody"): 1}
    reasons = {m.redis_id: m.reason for m in dead_letters.page_dead(MessageFilter(queue="emails")).messages}
    assert "no redis_message_id" in reasons[no_redis_id]
    assert "options are not a JSON object" in reasons[options_list]
    assert reasons[no_body] == "Message id was queued without a body"
    assert store_probe.unacked_by_any_worker("emails") == set()
    counts = queues.queue_counts("emails")
    assert (counts.ready, counts.in_progress) == (0, 0)

    from accounts.models import User

    User.objects.create_user("after-malformed@example.com", PASSWORD)
    wait_for(lambda: smtp.received("after-malformed@example.com"), what="a normal job afterwards")
    assert worker.proc.poll() is None


def test_worker_logs_show_no_secret_arguments(live, worker, clean_redis):
    get_broker().enqueue(
        Message(
            queue_name="emails",
            actor_name="send_welcome_email",
            args=("abc",),
            kwargs={"password": "hunter2-in-a-log"},
            options={},
        )
    )
    wait_for(
        lambda: "send_welcome_email('abc', password='********') was skipped" in worker.log_text(),
        what="Dramatiq's line about the skipped message",
    )
    assert "hunter2-in-a-log" not in worker.log_text()
