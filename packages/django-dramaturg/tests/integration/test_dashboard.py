"""The operator's view over real Redis, with dead letters made by a real worker from the host's notices."""

import io
import itertools
import json
import signal
import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from dramatiq import Message, get_broker

from dramaturg import actions
from dramaturg.models import AuditEntry
from dramaturg.store import dead_letters, keys, queues, stats
from dramaturg.store.connection import client as stats_client
from dramaturg.store.dead_letters import DeadLetterRef
from dramaturg.store.filters import MessageFilter
from dramaturg.timeutil import now_ms
from harness import store_probe
from harness.dead_letters import failed_emails, poison
from harness.processes import child_env, wait_for
from harness.redis_monitor import redis_monitor
from host.demo.models import Notice
from host.demo.tasks import hold, nightly_digest, notify

pytestmark = [pytest.mark.integration]


@pytest.fixture
def ops(live):
    """A logged-in superuser (staff, with the manage permission)."""
    user = User.objects.create_superuser("ops@example.com", "ops@example.com")
    client = Client()
    client.force_login(user)
    return client


def member(email: str, **extra) -> User:
    """A user signed in with the address as the username, with a password."""
    return User.objects.create_user(email, email, "member-password-123", **extra)


def failed_notices(smtp, addresses: list[str]) -> list[Notice]:
    """Notices owed while the SMTP server refuses mail: their send_notice jobs die (SMTPDataError)."""
    return failed_emails(smtp, notify, addresses)


def dead_rows(client: Client, **params) -> str:
    response = client.get("/jobs/dead/", params)
    assert response.status_code == 200
    return response.content.decode()


def confirm(client: Client, op: str, **fields):
    """The two POSTs of an action: the confirmation page, then the confirmed action."""
    first = client.post("/jobs/dead/action/", {"op": op, **fields})
    assert first.status_code == 200 and b"confirm" in first.content
    return client.post("/jobs/dead/action/", {"op": op, "confirm": "yes", **fields}, follow=True)


def test_overview_shows_queues_workers_and_totals(ops, worker, smtp):
    poison(2)
    page = ops.get("/jobs/").content.decode()
    assert 'data-queue="emails"' in page and "Workers" in page
    figures = ops.get("/jobs/overview.json").json()
    emails = next(q for q in figures["queues"] if q["name"] == "emails")
    assert emails["dead"] == 2 and emails["ready"] == 0
    assert figures["totals"]["dead"] == 2
    assert any(w["alive"] and "emails" in w["queues"] for w in figures["workers"])
    assert len(figures["throughput"]) == 60
    fragment = ops.get("/jobs/?fragment=1").content.decode()
    assert "<html" not in fragment and 'data-queue="emails"' in fragment


def test_overview_shows_the_job_a_worker_is_running(ops, worker, smtp):
    smtp.handler.delay = 2.0
    notify("busy@example.com")
    wait_for(lambda: any(w.running for w in stats.workers(60_000)), what="a running job")
    figures = ops.get("/jobs/overview.json").json()
    [job] = [j for w in figures["workers"] for j in w["running"]]
    assert job["actor"] == "send_notice" and job["queue"] == "emails"
    assert queues.queue_counts("emails").in_progress == 1


def test_dead_letters_grouped_filtered_and_paginated(ops, worker, smtp):
    failed_notices(smtp, ["a@example.com", "b@example.com"])
    poison(55)
    groups = {
        (g.actor_name, g.exception_type): g.count for g in dead_letters.dead_groups(MessageFilter(queue="emails"))
    }
    assert groups == {("send_notice", "SMTPDataError"): 2, ("no_such_actor", "ActorNotFound"): 55}

    first = dead_letters.page_dead(MessageFilter(queue="emails"), limit=50)
    assert first.total == 57 and len(first.messages) == 50 and first.newer is None
    second = dead_letters.page_dead(MessageFilter(queue="emails"), cursor=first.older, limit=50)
    assert len(second.messages) == 7 and second.older is None
    assert {m.ref for m in first.messages}.isdisjoint({m.ref for m in second.messages})
    back = dead_letters.page_dead(MessageFilter(queue="emails"), cursor=second.newer, direction="newer", limit=50)
    assert [m.ref for m in back.messages] == [m.ref for m in first.messages]
    times = [m.dead_at_ms for m in first.messages + second.messages]
    assert times == sorted(times, reverse=True)

    html = dead_rows(ops, exception="SMTPDataError")
    assert html.count('name="refs"') == 2 and 'Dead letters <span class="muted">(2)' in html
    assert dead_rows(ops, actor="no_such_actor").count('name="refs"') == 50
    assert dead_rows(ops, older=first.older, queue="emails").count('name="refs"') == 7


def test_requeue_after_fixing_smtp_delivers_the_email(ops, worker, smtp):
    [notice] = failed_notices(smtp, ["fixme@example.com"])
    [dead] = dead_letters.page_dead(MessageFilter(exception="SMTPDataError")).messages
    detail = ops.get(f"/jobs/dead/emails/{dead.redis_id}/").content.decode()
    assert "SMTPDataError" in detail and "Traceback (most recent call last)" in detail
    smtp.handler.reply = None  # the operator fixes the mail server
    result = confirm(ops, "requeue:one", refs=dead.ref, next="/jobs/dead/")
    assert b"Requeued 1 message." in result.content
    wait_for(lambda: smtp.received("fixme@example.com"), what="the requeued email")
    wait_for(lambda: Notice.objects.get(pk=notice.pk).status == "sent", what="the notice sent")
    assert store_probe.count_dead("emails") == 0
    entry = AuditEntry.objects.get()
    assert (entry.user_email, entry.action, entry.scope, entry.count) == ("ops@example.com", "requeue", "one", 1)
    assert entry.refs == dead.ref


def test_requeued_message_keeps_its_id_with_retries_reset(ops, worker, smtp):
    [message_id] = poison(1)
    [dead] = dead_letters.page_dead(MessageFilter(queue="emails")).messages
    assert dead.message_id == message_id
    assert actions.perform(None, AuditEntry.Action.REQUEUE, "one", refs=[DeadLetterRef.parse(dead.ref)]).count == 1
    wait_for(lambda: store_probe.count_dead("emails") == 1, what="the poison letter to die again")
    [again] = dead_letters.page_dead(MessageFilter(queue="emails")).messages
    full = dead_letters.get_dead(DeadLetterRef.parse(again.ref))
    assert full.message_id == message_id and full.retries == 0 and "requeued_at" in full.options


def test_delete_and_a_second_operator_gets_a_clear_message(ops, worker, smtp):
    poison(1)
    [dead] = dead_letters.page_dead(MessageFilter(queue="emails")).messages
    assert b"Deleted 1 message." in confirm(ops, "delete:selected", refs=dead.ref).content
    late = confirm(ops, "delete:selected", refs=dead.ref)
    assert late.status_code == 200
    assert b"Deleted 0 messages. 1 had already been requeued or deleted by someone else." in late.content
    assert store_probe.count_dead("emails") == 0 and dead_letters.dead_groups() == []
    assert ops.get(f"/jobs/dead/emails/{dead.redis_id}/", follow=True).status_code == 200


def test_bulk_actions_on_selected_and_all_matching(ops, worker, smtp):
    failed_notices(smtp, ["keep@example.com"])
    poison(7)
    refs = [m.ref for m in dead_letters.page_dead(MessageFilter(actor="no_such_actor"), limit=3).messages]
    assert b"Deleted 3 messages." in confirm(ops, "delete:selected", refs=refs).content
    result = confirm(ops, "delete:matching", queue="emails", actor="no_such_actor")
    assert b"Deleted 4 messages." in result.content
    [left] = dead_letters.dead_groups()
    assert (left.actor_name, left.count) == ("send_notice", 1)
    assert AuditEntry.objects.filter(scope="matching").get().filters == {"queue": "emails", "actor": "no_such_actor"}


def test_permissions_and_csrf(live, worker, smtp):
    poison(1)
    [dead] = dead_letters.page_dead(MessageFilter(queue="emails")).messages
    anonymous = Client()
    for url in ("/jobs/", "/jobs/dead/", "/jobs/overview.json", "/jobs/schedules/", "/admin/dramaturg/failedmessage/"):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    signed_in = Client()
    signed_in.force_login(member("member@example.com"))
    assert signed_in.get("/jobs/").status_code == 403
    viewer = Client()
    viewer.force_login(member("viewer@example.com", is_staff=True))
    assert viewer.get("/jobs/dead/").status_code == 200
    assert b'name="refs"' not in viewer.get("/jobs/dead/").content  # no action buttons without the permission
    assert viewer.post("/jobs/dead/action/", {"op": "delete:one", "refs": dead.ref}).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.create_superuser("root@example.com", "root@example.com", "root-password-123"))
    refused = strict.post("/jobs/dead/action/", {"op": "delete:one", "refs": dead.ref, "confirm": "yes"})
    assert refused.status_code == 403
    assert store_probe.count_dead("emails") == 1


def test_args_are_escaped_and_secrets_masked(ops, worker, smtp):
    poison(
        1,
        args=("<script>alert(1)</script>",),
        kwargs={"password": "hunter2", "nested": {"api_token": "t0k-secret-value"}},
    )
    [dead] = dead_letters.page_dead(MessageFilter(queue="emails")).messages
    for url in ("/jobs/dead/", f"/jobs/dead/emails/{dead.redis_id}/", "/admin/dramaturg/failedmessage/"):
        html = ops.get(url).content.decode()
        assert "<script>alert(1)" not in html and "&lt;script&gt;" in html, url
        assert "hunter2" not in html and "t0k-secret-value" not in html, url
    assert "********" in ops.get(f"/jobs/dead/emails/{dead.redis_id}/").content.decode()


def test_admin_failed_messages_is_the_dashboard_list_with_its_one_action_flow(ops, worker, smtp):
    failed_notices(smtp, ["admin-a@example.com"])
    [poison_id] = poison(1)
    index = ops.get("/admin/").content.decode()
    assert "Failed messages" in index and "/admin/dramaturg/failedmessage/" in index
    page = ops.get("/admin/dramaturg/failedmessage/").content.decode()
    assert page.count('name="refs"') == 2 and 'action="/jobs/dead/action/"' in page
    only_poison = ops.get("/admin/dramaturg/failedmessage/", {"exception": "ActorNotFound"}).content.decode()
    assert only_poison.count('name="refs"') == 1
    found = ops.get("/admin/dramaturg/failedmessage/", {"id": poison_id}).content.decode()
    assert found.count('name="refs"') == 1 and poison_id in found
    [dead] = dead_letters.page_dead(MessageFilter(actor="no_such_actor")).messages
    back = "/admin/dramaturg/failedmessage/?exception=ActorNotFound"
    asked = ops.post("/jobs/dead/action/", {"op": "delete:selected", "refs": dead.ref, "next": back})
    assert asked.status_code == 200 and b'id="confirm"' in asked.content
    done = ops.post("/jobs/dead/action/", {"op": "delete:selected", "refs": dead.ref, "next": back, "confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == back
    assert b"Deleted 1 message." in ops.get(back).content
    assert [g.actor_name for g in dead_letters.dead_groups()] == ["send_notice"]
    assert AuditEntry.objects.get().user_email == "ops@example.com"


def test_admin_mount_requires_staff_and_logs_in_through_the_admin(live, worker, smtp):
    assert Client().get("/admin/dramaturg/failedmessage/")["Location"].startswith("/admin/login/")
    signed_in = Client()
    signed_in.force_login(member("member2@example.com"))
    response = signed_in.get("/admin/dramaturg/failedmessage/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_schedules_page_lists_periodic_actors(ops, worker, smtp):
    html = ops.get("/jobs/schedules/").content.decode()
    assert "nightly_digest" in html and "0 2 * * *" in html and "Asia/Seoul" in html


def test_dashboard_says_so_when_redis_is_down(ops, redis_down):
    response = ops.get("/jobs/")
    assert response.status_code == 503 and b"Redis is unreachable" in response.content


def test_overview_json_is_valid_for_monitors(ops, worker, smtp):
    data = json.loads(ops.get("/jobs/overview.json").content)
    assert set(data) == {"queues", "totals", "throughput", "workers"}
    emails = next(q for q in data["queues"] if q["name"] == "emails")
    counts = ("ready", "delayed", "in_progress", "dead")
    assert all(type(emails[c]) is int and emails[c] >= 0 for c in counts) and emails["paused"] is False
    assert emails["workers_alive"] >= 1  # the session's worker consumes it
    assert data["totals"] and all(type(v) is int for v in data["totals"].values())
    minutes = [t["minute"] for t in data["throughput"]]
    assert len(minutes) == 60 and all(b - a == 60 for a, b in itertools.pairwise(minutes))
    assert abs(minutes[-1] - time.time()) < 120
    session_worker = [w for w in data["workers"] if w["alive"] and {"emails", "default"} <= set(w["queues"])]
    assert session_worker and all(type(w["pid"]) is int and w["state"] == "alive" for w in session_worker)


def test_reindex_rebuilds_the_same_groups(ops, worker, smtp):
    from django.core.management import call_command

    failed_notices(smtp, ["reindex@example.com"])
    poison(3)
    before = dead_letters.dead_groups()
    call_command("reindex_dead_letters")
    assert dead_letters.dead_groups() == before
    assert dead_letters.page_dead(MessageFilter(queue="emails", actor="no_such_actor")).total == 3


def test_tampered_references_are_refused_clearly(ops, worker, smtp):
    poison(1)
    for bad in ("no-slash-here", "emails/", "1queue/abc", "emails/has space"):
        response = ops.post("/jobs/dead/action/", {"op": "delete:selected", "refs": bad, "confirm": "yes"}, follow=True)
        assert response.status_code == 200 and b"Malformed message reference." in response.content, bad
    for url in ("/jobs/dead/emails/has%20space/", "/jobs/dead/1queue/abc/", "/jobs/dead/emails/has%20space/download/"):
        response = ops.get(url, follow=True)
        assert response.status_code == 200 and b"Malformed message reference." in response.content, url
    assert AuditEntry.objects.count() == 0 and store_probe.count_dead("emails") == 1


def test_queue_detail_lists_filters_and_finds_messages(ops, worker, smtp):
    # The session worker does not consume `reports`: these messages wait there.
    ready = [hold.send(n, "run-<b>") for n in range(3)] + [nightly_digest.send()]
    delayed = hold.send_with_options(args=(99, "later"), delay=600_000)
    page = ops.get("/jobs/queues/reports/").content.decode()
    assert page.count("<tr data-message-id=") == 4 and "run-&lt;b&gt;" in page and "run-<b>" not in page
    filtered = ops.get("/jobs/queues/reports/", {"actor": "nightly_digest"}).content.decode()
    assert filtered.count("<tr data-message-id=") == 1 and ready[3].message_id in filtered
    found = ops.get("/jobs/queues/reports/", {"id": ready[1].message_id}).content.decode()
    assert "State: <b>ready/in progress</b>" in found
    later = ops.get("/jobs/queues/reports/", {"tab": "delayed"}).content.decode()
    assert delayed.message_id in later and later.count("<tr data-message-id=") == 1
    counts = queues.queue_counts("reports")
    assert (counts.ready, counts.delayed) == (4, 1)


@pytest.mark.parametrize(
    "url",
    [
        "/jobs/queues/reports/?page=abc",
        "/jobs/queues/reports/?tab=delayed&cursor=x",
        "/jobs/dead/?older=garbage",
        "/jobs/dead/?newer=12:no-slash",
        "/admin/dramaturg/failedmessage/?older=garbage",
    ],
)
def test_malformed_paging_parameters_show_the_first_page(ops, worker, smtp, url):
    poison(1)
    # The session worker does not consume `reports`: these wait there, one ready and one delayed.
    ready = hold.send(1, "ready-one")
    delayed = hold.send_with_options(args=(2, "delayed-one"), delay=600_000)
    response = ops.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    if "/queues/" in url:
        expected = delayed if "delayed" in url else ready
        assert expected.message_id in html and html.count("<tr data-message-id=") == 1
    else:
        assert "no_such_actor" in html and html.count('name="refs"') == 1 and "Newer" not in html


def this_process_ports() -> set[str]:
    """Local ports of the broker client's pooled connections (the web side of this process)."""
    pool = stats_client().connection_pool
    connections = list(pool._available_connections) + list(pool._in_use_connections)
    return {str(c._sock.getsockname()[1]) for c in connections if c._sock is not None}


def writes_among(commands: list[dict], ports: set[str]) -> list[str]:
    conn = redis.Redis.from_url(settings.REDIS_URL)
    flags: dict[str, bool] = {}
    writes = []
    for command in commands:
        if command["client_port"] not in ports:
            continue
        name = command["command"].split(" ", 1)[0].lower()
        if name not in flags:
            info = conn.execute_command("COMMAND", "INFO", name).get(name) or {}
            scripted = name.startswith(("eval", "fcall")) and not name.endswith("_ro")  # may write inside
            flags[name] = scripted or "write" in info.get("flags", [])
        if flags[name]:
            writes.append(command["command"][:120])
    return writes


def test_dashboard_gets_never_write_to_redis(ops, worker, smtp, monkeypatch):
    failed_notices(smtp, ["readonly@example.com"])
    poison(2)
    [stale, kept] = dead_letters.page_dead(MessageFilter(actor="no_such_actor")).messages
    conn = stats_client()
    # What the old GETs repaired on the way: a letter the broker expired (its index entry remains)...
    conn.zrem(keys.dead_key("emails"), stale.redis_id)
    conn.hdel(keys.dead_messages_key("emails"), stale.redis_id)
    # ...and a worker registration silent for two hours.
    conn.hset(
        keys.workers_key(),
        "ghost-worker",
        json.dumps({"host": "gone", "pid": 1, "queues": ["emails"], "seen_ms": now_ms() - 7_200_000}),
    )
    urls = [
        "/jobs/",
        "/jobs/?fragment=1",
        "/jobs/overview.json",
        "/jobs/dead/",
        "/jobs/dead/?actor=no_such_actor",
        f"/jobs/dead/?id={kept.message_id}",
        f"/jobs/dead/emails/{kept.redis_id}/",
        f"/jobs/dead/emails/{kept.redis_id}/download/",
        f"/jobs/dead/emails/{stale.redis_id}/",
        "/jobs/queues/emails/",
        "/jobs/queues/emails/?tab=delayed",
        "/jobs/schedules/",
        "/admin/dramaturg/failedmessage/",
        "/admin/dramaturg/failedmessage/?exception=ActorNotFound",
        "/jobs/actors/",
        "/jobs/actors/?window=day",
        "/jobs/actors/send_notice/",
        "/jobs/retries/",
        f"/jobs/messages/?id={kept.message_id}",
        "/jobs/metrics",
        "/jobs/health",
    ]
    with redis_monitor() as commands:
        for url in urls:
            assert ops.get(url).status_code in (200, 302, 503), url  # /jobs/health: 503 while unhealthy
    ports = this_process_ports()
    assert ports and any(c["client_port"] in ports for c in commands)  # the pages did read through MONITOR's eyes
    assert writes_among(commands, ports) == []
    # Nothing was repaired by the pages; the worker-side prune does it.
    assert conn.zscore(keys.group_index_key("emails|no_such_actor|ActorNotFound"), stale.redis_id) is not None
    assert conn.hexists(keys.workers_key(), "ghost-worker")
    assert dead_letters.page_dead(MessageFilter(actor="no_such_actor")).total == 2
    monkeypatch.setattr(get_broker(), "dead_message_ttl", 0)  # every letter is old enough to be checked
    call_command("reindex_dead_letters", "--prune", stdout=io.StringIO())
    assert dead_letters.page_dead(MessageFilter(actor="no_such_actor")).total == 1
    assert not conn.hexists(keys.workers_key(), "ghost-worker")


def test_queues_come_from_the_registry_that_any_process_writes(ops, worker, smtp):
    shell = "import dramatiq; dramatiq.get_broker().declare_queue('declared_elsewhere')"
    subprocess.run(
        [sys.executable, "-m", "django", "shell", "-c", shell],
        env=child_env(),
        check=True,
        timeout=60,
        cwd=settings.BASE_DIR,
        capture_output=True,
    )
    names = [q["name"] for q in ops.get("/jobs/overview.json").json()["queues"]]
    assert {"emails", "reports", "declared_elsewhere"} <= set(names)


def test_large_letters_list_bounded_previews_and_download_the_whole_body(ops, worker, smtp):
    big = "x" * 2_000_000
    poison(1, args=(big,), kwargs={"password": "hunter2"})
    [dead] = dead_letters.page_dead(MessageFilter(queue="emails")).messages
    assert dead.size > 2_000_000 and len(dead.args_preview) <= 200
    page = ops.get("/jobs/dead/").content
    assert len(page) < 100_000 and b"x" * 1000 not in page and b"hunter2" not in page
    detail = ops.get(f"/jobs/dead/emails/{dead.redis_id}/").content.decode()
    assert len(detail) < 100_000 and "more characters" in detail and "hunter2" not in detail
    download = ops.get(f"/jobs/dead/emails/{dead.redis_id}/download/")
    assert download["Content-Disposition"].startswith("attachment;")
    whole = json.loads(b"".join(download.streaming_content) if download.streaming else download.content)
    assert whole["args"] == [big] and whole["kwargs"] == {"password": "********"}
    assert Client().get(f"/jobs/dead/emails/{dead.redis_id}/download/").status_code == 302  # staff only

    # A letter filed before previews existed: listed from its size, never read whole; reindex restores it.
    stats_client().hdel(keys.preview_key("emails"), dead.redis_id)
    [old] = dead_letters.page_dead(MessageFilter(queue="emails")).messages
    assert old.ref == dead.ref and "bytes; open the letter" in old.args_preview
    page = ops.get("/jobs/dead/").content
    assert len(page) < 100_000 and b"x" * 1000 not in page and dead.redis_id.encode() in page
    call_command("reindex_dead_letters", stdout=io.StringIO())
    [again] = dead_letters.page_dead(MessageFilter(queue="emails")).messages
    assert again.args_preview == dead.args_preview and again.exception_type == "ActorNotFound"


def test_a_killed_worker_shows_as_lost_without_running_jobs(ops, worker, smtp, start_worker, monkeypatch):
    # The dashboard's view of "dead" (the worker keeps its own).
    monkeypatch.setattr(get_broker(), "heartbeat_timeout", 2_000)
    smtp.handler.delay = 30.0
    notice = Notice.objects.create(address="slow@example.com")
    victim = start_worker(["reports"])
    # The notice's job on `reports`, which only this worker consumes, so it is the one running it.
    get_broker().enqueue(
        Message(queue_name="reports", actor_name="send_notice", args=(notice.pk,), kwargs={}, options={})
    )

    def reports_worker() -> dict | None:
        workers = ops.get("/jobs/overview.json").json()["workers"]
        return next((w for w in workers if w["queues"] == ["reports"]), None)

    running = wait_for(lambda: (w := reports_worker()) and w["running"] and w, what="the job to run")
    assert running["state"] == "alive" and running["running"][0]["actor"] == "send_notice"
    victim.signal(signal.SIGKILL, group=True)
    lost = wait_for(
        lambda: (w := reports_worker()) and w["state"] == "lost" and w,
        timeout=30,
        what="the killed worker to show as lost",
    )
    assert lost["running"] == [] and not lost["alive"]
    html = ops.get("/jobs/?fragment=1").content.decode()
    assert 'data-state="lost"' in html and "presumed dead" in html
    stats.unregister_worker(lost["id"])
