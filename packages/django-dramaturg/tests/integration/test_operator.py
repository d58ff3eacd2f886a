"""The operator's view, second step, over real Redis and real worker processes: per-actor metrics and
deploy markers, pause and resume, retry now and kill, queue latency, Prometheus, health, any message
by id, bulk actions as jobs (the host's notices are the jobs that send email)."""

import io
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from dramatiq import Message, get_broker
from prometheus_client.parser import text_string_to_metric_families

from dramaturg import actions, conf
from dramaturg.models import AuditEntry, BulkAction, OutboxMessage
from dramaturg.store import actor_metrics, control, delayed, keys, queues
from dramaturg.store.connection import client as redis_client
from dramaturg.store.filters import MessageFilter
from dramaturg.timeutil import now_ms
from harness.dead_letters import failed_emails, filed, poison
from harness.dramaturg_settings import set_dramaturg
from harness.processes import wait_for
from harness.redis_monitor import paused_checks, redis_monitor
from host.demo.models import Notice
from host.demo.tasks import hold, notify

pytestmark = [pytest.mark.integration]

TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture
def ops(live, settled_worker_stats):  # the figures these tests read are the session worker's
    user = User.objects.create_superuser("ops@example.com", "ops@example.com")
    client = Client()
    client.force_login(user)
    return client


def owed_notices(*addresses: str) -> list[Notice]:
    """Notices owed, with no job enqueued: none is sent until the test sends its job."""
    return Notice.objects.bulk_create([Notice(address=a) for a in addresses])


def send_delayed_retry(notice: Notice, delay_ms: int, retries: int = 2) -> Message:
    """A notice's job that failed `retries` times and waits `delay_ms` for its next attempt."""
    message: Message[Any] = Message(
        queue_name="emails", actor_name="send_notice", args=(notice.pk,), kwargs={}, options={"retries": retries}
    )
    return get_broker().enqueue(message, delay=delay_ms)


def actor_row(client: Client, actor: str) -> str:
    html = client.get("/jobs/actors/").content.decode()
    start = html.find(f'data-actor="{actor}"')
    return html[start : html.find("</tr>", start)] if start >= 0 else ""


def test_per_actor_metrics_runtime_percentiles_and_deploy_markers(ops, worker, smtp, start_worker):
    start_worker(["emails"], APP_VERSION="v-test-2")  # a deploy: a worker with a new code version boots
    assert any(d.version == "v-test-2" for d in actor_metrics.deploys())
    smtp.handler.delay = 0.3
    for n in range(4):
        notify(f"slow{n}@example.com")
    wait_for(lambda: Notice.objects.filter(status="sent").count() == 4, what="4 emails sent")
    wait_for(
        lambda: (
            actor_metrics.totals_over(actor_metrics.periods("hour")).get("send_notice")
            and actor_metrics.totals_over(actor_metrics.periods("hour"))["send_notice"].processed == 4
        ),
        what="the attempts published",
    )
    counts = actor_metrics.totals_over(actor_metrics.periods("hour"))["send_notice"]
    assert (counts.processed, counts.failed, counts.retried, counts.dead) == (4, 0, 0, 0)
    assert 250 <= counts.quantile(0.5) <= 1000 and counts.quantile(0.99) <= 2500  # 300 ms of SMTP each
    row = actor_row(ops, "send_notice")
    assert "<svg" in row and ("ms<" in row or " s<" in row)
    page = ops.get("/jobs/actors/send_notice/").content.decode()
    assert "deploy-marker" in page and "v-test-2" in page and "runtime, ms" in page and "time (Asia/Seoul)" in page
    day = ops.get("/jobs/actors/send_notice/?window=day").content.decode()
    assert "attempts / hour" in day
    versions = {w["version"] for w in ops.get("/jobs/overview.json").json()["workers"]}
    assert "v-test-2" in versions


def test_failed_attempts_are_counted_as_retried_then_dead(ops, worker, smtp):
    failed_emails(smtp, notify, ["fails@example.com"])  # 1 attempt + MAX_RETRIES retries, then dead
    retries = conf.settings.EMAIL.MAX_RETRIES

    def counts():
        return actor_metrics.totals_over(actor_metrics.periods("hour")).get("send_notice")

    wait_for(lambda: counts() and counts().dead == 1, what="the dead attempt published")
    assert (counts().processed, counts().failed, counts().retried, counts().dead) == (0, retries + 1, retries, 1)
    assert "send_notice" in actor_metrics.all_time()
    row = actor_row(ops, "send_notice")
    assert "/jobs/dead/?actor=send_notice" in row


def test_pause_stops_fetching_enqueues_still_land_resume_delivers(ops, worker, smtp):
    with redis_monitor() as commands:
        call_command("pause_queue", "emails", stdout=io.StringIO())
        paused_at = len(commands)
        # The worker's consumer has seen the pause once it has asked Redis again (at most a second).
        wait_for(lambda: paused_checks(commands, "emails", paused_at) >= 1, what="the consumer to see the pause")
        notify("waits@example.com")  # enqueued on commit
        wait_for(lambda: queues.queue_counts("emails").ready == 1, what="the message to be queued")
        seen = len(commands)
        wait_for(lambda: paused_checks(commands, "emails", seen) >= 2, what="two more checks by the consumer")
    assert queues.queue_counts("emails").ready == 1 and not smtp.received("waits@example.com")
    overview = ops.get("/jobs/overview.json").json()
    emails = next(q for q in overview["queues"] if q["name"] == "emails")
    assert emails["paused"] and emails["ready"] == 1 and emails["oldest_ready_age_s"] >= 0
    assert 'data-paused="yes"' in ops.get("/jobs/?fragment=1").content.decode()

    response = ops.post("/jobs/queues/emails/pause/", {"op": "resume"}, follow=True)
    assert b"Resumed queue emails." in response.content
    wait_for(lambda: smtp.received("waits@example.com"), what="the email after resume")
    assert not control.is_paused("emails")
    audit = list(AuditEntry.objects.order_by("created_at").values_list("action", "user_email", "filters"))
    assert audit[0][0] == "pause" and audit[0][1].startswith("manage.py (") and audit[0][2] == {"queue": "emails"}
    assert audit[1] == ("resume", "ops@example.com", {"queue": "emails"})


def test_pause_commands_refuse_unknown_queues_clearly(ops):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown queue 'nope'"):
        call_command("pause_queue", "nope", stdout=io.StringIO())
    with pytest.raises(CommandError, match="Not a queue name"):
        call_command("resume_queue", "bad name", stdout=io.StringIO())
    out = io.StringIO()
    call_command("resume_queue", "emails", stdout=out)
    assert "was already resumed" in out.getvalue()
    member = Client()
    member.force_login(User.objects.create_user("viewer@example.com", "viewer@example.com", is_staff=True))
    assert member.post("/jobs/queues/emails/pause/", {"op": "pause"}).status_code == 403
    assert not control.is_paused("emails")


def test_retry_now_runs_a_waiting_retry_once_and_kill_makes_a_dead_letter(ops, worker, smtp):
    now_notice, kill_notice = owed_notices("retry-now@example.com", "killed@example.com")
    # Due in 20 s: the operator acts while both wait, however slow the machine (each step below waits
    # for a condition); the held copies are then watched until they have come due, not for a fixed time.
    retried = send_delayed_retry(now_notice, delay_ms=20_000)
    killed = send_delayed_retry(kill_notice, delay_ms=20_000)
    due_ms = max(retried.options["eta"], killed.options["eta"])
    page = delayed.page_retries(MessageFilter(queue="emails"))
    assert {m.message_id for m in page.messages} == {retried.message_id, killed.message_id}
    html = ops.get("/jobs/retries/").content.decode()
    assert retried.message_id in html and killed.message_id in html
    [ref_now] = [m.ref for m in page.messages if m.message_id == retried.message_id]
    [ref_kill] = [m.ref for m in page.messages if m.message_id == killed.message_id]
    # The worker fetches delayed messages early and holds them in memory until due.
    wait_for(lambda: redis_client().llen(keys.delayed_queue_key("emails")) == 0, what="the worker to hold both")

    asked = ops.post("/jobs/retries/action/", {"op": "retry_now:one", "refs": ref_now})
    assert asked.status_code == 200 and b'id="confirm"' in asked.content
    done = ops.post("/jobs/retries/action/", {"op": "retry_now:one", "refs": ref_now, "confirm": "yes"}, follow=True)
    assert b"Retried now 1 message." in done.content
    wait_for(lambda: smtp.received("retry-now@example.com"), what="the retried email")
    done = ops.post("/jobs/retries/action/", {"op": "kill:one", "refs": ref_kill, "confirm": "yes"}, follow=True)
    assert b"Killed 1 message." in done.content
    assert now_ms() < due_ms, "the operator acted after the retries came due: nothing held was tested"
    # When their time comes, the worker that held them does not run them again.
    wait_for(
        lambda: worker.log_text().count("was retried or killed by an operator") >= 2,
        timeout=(due_ms - now_ms()) / 1000 + 15,
        what="the worker to skip both held copies",
    )
    assert len(smtp.received("retry-now@example.com")) == 1 and not smtp.received("killed@example.com")
    dead = ops.get("/jobs/dead/", {"exception": "KilledByOperator"}).content.decode()
    assert killed.message_id in dead and "killed by an operator" in dead
    audit = list(AuditEntry.objects.order_by("created_at").values_list("action", "count"))
    assert audit == [("retry_now", 1), ("kill", 1)]
    again = ops.post("/jobs/retries/action/", {"op": "kill:one", "refs": ref_kill, "confirm": "yes"}, follow=True)
    assert b"had already left the retry queue" in again.content
    assert not Notice.objects.filter(pk=kill_notice.pk, status="sent").exists()


def test_retry_actions_refuse_tampered_input(ops, worker):
    assert b"Unknown action." in ops.post("/jobs/retries/action/", {"op": "explode:one"}, follow=True).content
    bad = ops.post("/jobs/retries/action/", {"op": "kill:one", "refs": "no-slash"}, follow=True)
    assert b"Malformed message reference." in bad.content
    assert ops.get("/jobs/retries/", {"cursor": "garbage"}).status_code == 200


@pytest.mark.parametrize(
    ("url", "op", "home"),
    [("/jobs/dead/action/", "delete", "/jobs/dead/"), ("/jobs/retries/action/", "kill", "/jobs/retries/")],
)
def test_both_action_forms_check_their_input_alike(ops, url, op, home):
    unknown_scope = ops.post(url, {"op": f"{op}:everything"}, follow=True)
    assert unknown_scope.redirect_chain[-1][0] == home and b"Unknown action." in unknown_scope.content
    nothing_selected = ops.post(url, {"op": f"{op}:selected", "next": f"{home}?queue=emails"}, follow=True)
    assert nothing_selected.redirect_chain[-1][0] == f"{home}?queue=emails"
    assert b"Select at least one message first." in nothing_selected.content
    off_site = ops.post(url, {"op": "explode:one", "next": "https://elsewhere.example/"})
    assert off_site.status_code == 302 and off_site.url == home


def test_oldest_ready_age_per_queue(ops, worker, smtp):
    # A queue no worker consumes: the message stays ready, whatever the workers' timing.
    get_broker().declare_queue("latency")
    [notice] = owed_notices("latency@example.com")
    message = Message(
        queue_name="latency",
        actor_name="send_notice",
        args=(notice.pk,),
        kwargs={},
        options={},
        message_timestamp=int(time.time() * 1000) - 90_000,
    )
    get_broker().enqueue(message)
    latency = next(q for q in ops.get("/jobs/overview.json").json()["queues"] if q["name"] == "latency")
    assert 90 <= latency["oldest_ready_age_s"] < 200
    assert "2 min" in ops.get("/jobs/?fragment=1").content.decode()  # readable, not an epoch


def parse_metrics(text: str) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_prometheus_metrics_are_cluster_wide_and_parse(ops, worker, smtp, settings):
    set_dramaturg(settings, "CONSOLE", METRICS_TOKEN=TOKEN)
    poison(2)
    notify("metrics@example.com")
    wait_for(lambda: smtp.received("metrics@example.com"), what="an email")
    wait_for(lambda: actor_metrics.all_time().get("send_notice"), what="published metrics")
    OutboxMessage.objects.create(actor_name="send_notice", queue_name="emails", args=[0])
    OutboxMessage.objects.filter(dispatched_at__isnull=True).update(created_at=timezone.now() - timedelta(minutes=2))
    anonymous = Client()
    response = anonymous.get("/jobs/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    families = parse_metrics(response.content.decode())
    for name in (
        "jobs_queue_messages",
        "jobs_queue_oldest_ready_age_seconds",
        "jobs_queue_paused",
        "jobs_dead_letters",
        "jobs_workers",
        "jobs_actor_processed",
        "jobs_actor_failed",
        "jobs_actor_retried",
        "jobs_actor_dead",
        "jobs_actor_runtime_seconds",
        "jobs_outbox_pending",
        "jobs_outbox_oldest_pending_age_seconds",
    ):
        assert name in families, name
        assert all("queue" in s.labels or "actor" in s.labels for s in families[name]), name
    dead = {s.labels["queue"]: s.value for s in families["jobs_dead_letters"]}
    assert dead["emails"] == 2
    processed = {s.labels["actor"]: s for s in families["jobs_actor_processed"]}
    # At least this test's job: the session's worker may publish an earlier test's count a moment late.
    assert processed["send_notice"].value >= 1 and processed["send_notice"].labels["queue"] == "emails"
    counts = [
        s
        for s in families["jobs_actor_runtime_seconds"]
        if s.name == "jobs_actor_runtime_seconds_count" and s.labels["actor"] == "send_notice"
    ]
    assert counts[0].value == processed["send_notice"].value  # one runtime observation per processed job
    workers = {(s.labels["queue"], s.labels["state"]): s.value for s in families["jobs_workers"]}
    assert workers[("emails", "alive")] >= 1
    pending = {s.labels["queue"]: s.value for s in families["jobs_outbox_pending"]}
    ages = {s.labels["queue"]: s.value for s in families["jobs_outbox_oldest_pending_age_seconds"]}
    assert pending["emails"] == 1 and ages["emails"] >= 110
    # Staff sessions work too; the same token opens overview.json and the health check.
    assert parse_metrics(ops.get("/jobs/metrics").content.decode()).keys() == families.keys()
    assert anonymous.get("/jobs/overview.json", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert anonymous.get("/jobs/health", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code in (200, 503)


def test_metrics_access_is_refused_without_credentials(live, settings):
    set_dramaturg(settings, "CONSOLE", METRICS_TOKEN=TOKEN)
    anonymous = Client()
    response = anonymous.get("/jobs/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.get("/jobs/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert anonymous.get("/jobs/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
    assert anonymous.get("/jobs/health").status_code == 401
    assert anonymous.get("/jobs/overview.json", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    member = Client()
    member.force_login(User.objects.create_user("member@example.com", "member@example.com"))
    assert member.get("/jobs/metrics").status_code == 403
    set_dramaturg(settings, "CONSOLE", METRICS_TOKEN="")  # no token configured: no token opens anything
    assert anonymous.get("/jobs/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def run_check_jobs() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("check_jobs", stdout=out)
    except SystemExit as stop:
        return int(stop.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_health_checks_name_each_problem(ops, worker, smtp, settings):
    set_dramaturg(settings, "CONSOLE", METRICS_TOKEN=TOKEN)
    assert run_check_jobs() == (0, "OK: 5 checks passed\n")
    health = Client().get("/jobs/health", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert health.status_code == 200 and health.json()["status"] == "ok"

    poison(1)  # a dead letter in the window (threshold 0)
    hold.send(1, "nobody-consumes-reports-here")  # no live worker consumes `reports`
    set_dramaturg(settings, "HEALTH", OLDEST_READY_S=0)
    code, out = run_check_jobs()
    lines = out.splitlines()
    assert code == 1
    assert any(line.startswith("dead_letters emails: 1 dead letters in the last 15 min") for line in lines)
    assert any(line.startswith("no_worker reports: 1 ready") for line in lines)
    assert any(line.startswith("oldest_ready reports: a ready message has waited") for line in lines)
    report = Client().get("/jobs/health", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert report.status_code == 503 and report.json()["status"] == "failing"
    assert {p["check"] for p in report.json()["problems"]} >= {"dead_letters", "no_worker", "oldest_ready"}


def test_check_jobs_exits_2_when_redis_is_unreachable(redis_down):
    code, out = run_check_jobs()
    assert code == 2 and out.startswith("redis: unreachable: ") and "Connection refused" in out
    assert len(out.splitlines()) == 1, out


def test_any_message_by_id_running_retrying_dead_and_finished(ops, worker, smtp):
    smtp.handler.delay = 2.5
    notify("running@example.com")
    row = OutboxMessage.objects.get(actor_name="send_notice")
    message_id = str(row.message_id)

    def page_when(state: str) -> str:
        # The page that showed the state: a second request may come after the 2.5 s on a loaded machine.
        def page() -> str | None:
            html = ops.get("/jobs/messages/", {"id": message_id}).content.decode()
            return html if f'data-state="{state}"' in html else None

        return str(wait_for(page, what=f"the message {state}"))

    assert "on worker <code>" in page_when("in progress")
    html = page_when("finished")
    assert ">done<" in html and " s," in html  # outcome and duration (2.5 s of SMTP)

    [waiting] = owed_notices("waiting@example.com")
    retry = send_delayed_retry(waiting, delay_ms=600_000)
    html = ops.get("/jobs/messages/", {"id": retry.message_id}).content.decode()
    assert 'data-state="retrying"' in html and "after 2 failed attempts" in html
    [dead_id] = poison(1)
    html = ops.get("/jobs/messages/", {"id": dead_id}).content.decode()
    assert 'data-state="dead"' in html and 'id="reason"' in html  # its own page: the reason it died
    missing = ops.get("/jobs/messages/", {"id": "no-such-message"}).content.decode()
    assert 'id="not-found"' in missing
    actions.perform(
        None, AuditEntry.Action.KILL, "one", refs=[delayed.MessageRef("emails", retry.options["redis_message_id"])]
    )


def test_big_bulk_action_runs_as_a_job_with_progress(ops, worker, smtp, settings):
    set_dramaturg(settings, "CONSOLE", BULK_INLINE_MAX=3)
    poison(8)
    fields = {"op": "delete:matching", "actor": "no_such_actor"}
    asked = ops.post("/jobs/dead/action/", fields)
    assert b"runs as a background job" in asked.content
    response = ops.post("/jobs/dead/action/", {**fields, "confirm": "yes"})
    job = BulkAction.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/bulk/{job.pk}/"
    assert job.total == 8 and b'role="progressbar"' in ops.get(response["Location"]).content
    wait_for(
        lambda: ops.get(f"/jobs/bulk/{job.pk}/", {"format": "json"}).json()["status"] == "done",
        what="the bulk job to finish",
    )
    progress = ops.get(f"/jobs/bulk/{job.pk}/", {"format": "json"}).json()
    assert progress["count"] == 8 and progress["percent"] == 100 and progress["outcome"] == "Deleted 8 messages."
    assert filed("emails") == 0
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.scope, entry.count, entry.user_email) == ("delete", "matching", 8, "ops@example.com")


def test_a_big_queue_is_cleared_by_a_job_on_a_real_worker(ops, worker, smtp, settings):
    set_dramaturg(settings, "CONSOLE", BULK_INLINE_MAX=3)
    for n in range(5):  # the session worker does not consume `reports`: these wait there
        hold.send(n, "to clear")
    response = ops.post(f"/jobs/queues/{hold.queue_name}/clear/", {"op": "clear", "confirm": "yes"})
    job = BulkAction.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/bulk/{job.pk}/"
    wait_for(
        lambda: ops.get(f"/jobs/bulk/{job.pk}/", {"format": "json"}).json()["status"] == "done",
        what="the clearing job to finish",
    )
    progress = ops.get(f"/jobs/bulk/{job.pk}/", {"format": "json"}).json()
    assert progress["outcome"] == f"Cleared queue {hold.queue_name}: 5 ready messages deleted."
    assert queues.queue_counts(hold.queue_name).ready == 0


def test_a_bulk_job_out_of_retries_is_failed_by_a_real_worker(ops, worker, smtp):
    from dramaturg.actors import run_bulk_action

    job = BulkAction.objects.create(action=AuditEntry.Action.CLEAR, filters={}, total=3)  # names no queue: fails
    run_bulk_action.send_with_options(args=(job.pk,), max_retries=0)
    wait_for(
        lambda: ops.get(f"/jobs/bulk/{job.pk}/", {"format": "json"}).json()["status"] == "failed",
        what="the job to be given up",
    )
    assert (
        ops.get(f"/jobs/bulk/{job.pk}/", {"format": "json"}).json()["error"]
        == "Gave up after 1 attempt. KeyError: 'queue'"
    )
    assert AuditEntry.objects.get().count == 0  # it did nothing before it failed, and says so


def test_the_record_of_finished_messages_is_bounded(clean_redis):
    from dramaturg.store import recent
    from dramaturg.store.connection import client
    from dramaturg.timeutil import now_ms

    now = now_ms()
    for batch in range(5):  # five publishes of 7 messages, the record sized for 18
        entries = [(f"m{batch}-{n}", "a", "q", recent.DONE, 0, now - 5, now, 5.0) for n in range(7)]
        pipe = client().pipeline(transaction=False)
        recent.add_to_pipeline(pipe, entries, worker=("w", "host", 1), limit=18, max_age_ms=60_000)
        pipe.execute()
    assert 18 <= recent.count() <= 20
    last = recent.finished("m4-6")
    assert (last["outcome"], last["duration_ms"], last["host"], last["pid"]) == ("done", 5.0, "host", 1)
    assert recent.finished("m0-0") is None
    old = [("old", "a", "q", recent.DEAD, 3, now - 120_005, now - 120_000, 5.0)]
    pipe = client().pipeline(transaction=False)
    recent.add_to_pipeline(pipe, old, worker=("w", "host", 1), limit=18, max_age_ms=60_000)
    pipe.execute()
    assert recent.finished("old", max_age_ms=60_000) is None  # older than the maximum age: never shown


def test_the_record_reads_any_id_and_actor_and_entries_written_by_earlier_versions(clean_redis):
    from dramaturg.store import recent
    from dramaturg.store.connection import client
    from dramaturg.timeutil import now_ms

    now = now_ms()
    entries = [
        ("é,1\n", 'mail "welcome"', "emails", recent.DONE, 2, now - 7, now, 7.25),
        ("plain", "a", "q", recent.DEAD, 0, now, now, 0.0),
    ]
    pipe = client().pipeline(transaction=False)
    recent.add_to_pipeline(pipe, entries, worker=("w-1", "hôst", 7), limit=100, max_age_ms=60_000)
    pipe.execute()
    odd = recent.finished("é,1\n")
    assert (odd["message_id"], odd["actor"], odd["retries"], odd["duration_ms"], odd["host"]) == (
        "é,1\n",
        'mail "welcome"',
        2,
        7.2,
        "hôst",
    )
    assert recent.finished("plain")["outcome"] == recent.DEAD
    # An entry written before the id was left out of the value: all FIELDS in the value.
    client().hset(
        keys.recent_slot_key(3), "older", json.dumps(["older", "a", "q", "done", 0, now - 5, now, 5.0, "w", "h", 1])
    )
    older = recent.finished("older")
    assert (older["message_id"], older["actor"], older["duration_ms"], older["pid"]) == ("older", "a", 5.0, 1)
