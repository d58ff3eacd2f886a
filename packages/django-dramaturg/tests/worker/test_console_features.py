"""What operators from Sidekiq Web, Oban Web, rq-dashboard and Flower expect of the console (issue 21),
at the worker tier (real Redis, the store, the views; an in-process worker where a job must run):
search by arguments, error text and time range across states; a detail page for a message in each
state with one id; periodic jobs run now, disabled and enabled (honoured by a scheduler started
afresh); queue actions (delete a ready job, clear a queue, run a delayed job now or delete it), each
confirmed and audited."""

from __future__ import annotations

from typing import Any

import dramatiq
import pendulum
import pytest
from django.test import Client
from dramatiq import Message, Worker, get_broker

from dramaturg import actions, bulk, periodic
from dramaturg.actors import run_bulk_action
from dramaturg.models import AuditEntry, BulkAction
from dramaturg.store import control, delayed, keys, lookup, queues, search, stats
from dramaturg.store.connection import client as redis_client
from dramaturg.store.connection import text
from dramaturg.store.search import SearchQuery
from dramaturg.timeutil import now_ms
from harness.dramaturg_settings import set_dramaturg
from harness.fixtures import FAKE_HOST
from harness.processes import wait_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_workers")]

QUEUE = "emails"
ACTOR = "send_health_alert"


def _enqueue(*args: Any, delay: int | None = None, queue: str = QUEUE, **options: Any) -> Message:
    message: Message[Any] = Message(queue_name=queue, actor_name=ACTOR, args=args, kwargs={}, options=options)
    return get_broker().enqueue(message, delay=delay)


def _finished(message_id: str, *, at_ms: int) -> None:
    """A worker's publish that says `message_id` finished (store.recent), as JobStats writes it."""
    stats.publish_worker_stats(
        "w-test",
        {"host": FAKE_HOST, "pid": 1, "queues": [QUEUE]},
        None,
        {},
        {},
        finished=[(message_id, ACTOR, QUEUE, "done", 0, at_ms - 5, at_ms, 5.0)],
    )


@pytest.fixture
def every_state(clean_redis) -> dict[str, Message]:
    """One message in each state, each with the argument "needle-<state>"."""
    ready = _enqueue("needle-ready", {"password": "hunter2"})
    later = _enqueue("needle-delayed", delay=600_000)
    retrying = _enqueue(
        "needle-retrying", delay=600_000, retries=2, traceback="Traceback ...\nSMTPServerDisconnected: smtp went away"
    )
    dead = _enqueue("needle-dead", delay=600_000, retries=5)
    actions.perform(
        None, AuditEntry.Action.KILL, "one", refs=[delayed.MessageRef(QUEUE, dead.options["redis_message_id"])]
    )
    finished: Message[Any] = Message(
        queue_name=QUEUE, actor_name=ACTOR, args=("needle-finished",), kwargs={}, options={}
    )
    _finished(finished.message_id, at_ms=now_ms())
    return {"ready": ready, "delayed": later, "retrying": retrying, "dead": dead, "finished": finished}


def _found(query: SearchQuery) -> dict[str, str]:
    return {h.message_id: h.state for h in search.search(query, queues.queue_names()).hits}


def test_search_by_argument_finds_a_message_in_each_state(every_state):
    for state in ("ready", "delayed", "retrying", "dead"):
        assert _found(SearchQuery(args=f"needle-{state}")) == {every_state[state].message_id: state}
    everything = _found(SearchQuery(args="needle"))
    assert set(everything.values()) == {"ready", "delayed", "retrying", "dead"}  # finished keeps no arguments
    assert _found(SearchQuery(args="NEEDLE-READY")) == {every_state["ready"].message_id: "ready"}  # any case


def test_search_matches_masked_arguments_only(every_state):
    assert _found(SearchQuery(args="hunter2")) == {}  # a secret cannot be probed
    assert every_state["ready"].message_id in _found(SearchQuery(args="password"))


def test_search_by_error_text(every_state):
    assert _found(SearchQuery(error="went away")) == {every_state["retrying"].message_id: "retrying"}
    assert _found(SearchQuery(error="killed by an operator")) == {every_state["dead"].message_id: "dead"}


def test_search_by_time_range_and_state(every_state):
    now = now_ms()
    finished_only = _found(SearchQuery(states=(search.FINISHED,), since_ms=now - 60_000))
    assert finished_only == {every_state["finished"].message_id: "finished"}
    # ready messages are matched on when they were enqueued; delayed ones on when they are due (in 10 min)
    soon = _found(SearchQuery(since_ms=now - 60_000, until_ms=now + 60_000, states=(search.READY, search.DELAYED)))
    assert soon == {every_state["ready"].message_id: "ready"}
    assert _found(SearchQuery(since_ms=now + 3_600_000)) == {}


def test_a_search_keeps_the_newest_hits_within_one_total_scan_budget(every_state):
    newest = search.search(SearchQuery(), queues.queue_names(), limit=2)
    assert newest.limited and {h.state for h in newest.hits} == {"delayed", "retrying"}  # due in 10 min
    budget = search.search(SearchQuery(), queues.queue_names(), total_scan_limit=3)
    assert budget.scanned == 3 and budget.cut_short


def test_search_page_shows_results_and_field_errors(staff, every_state):
    page = staff.get("/jobs/search/", {"args": "needle-retrying"}).content.decode()
    assert f'data-message-id="{every_state["retrying"].message_id}"' in page
    assert f"/jobs/messages/{every_state['retrying'].message_id}/" in page
    assert "SMTPServerDisconnected: smtp went away" in page
    bad = staff.get("/jobs/search/", {"since": "yesterday-ish"})
    assert bad.status_code == 200 and "field-error" in bad.content.decode()
    backwards = staff.get("/jobs/search/", {"since": "2026-05-02T10:00", "until": "2026-05-01T10:00"})
    assert "field-error" in backwards.content.decode()
    korean = staff.get("/jobs/search/", {"args": "needle"}, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "메시지 검색" in korean


def _running(message: Message) -> None:
    """`message` taken by a worker (off its queue's list, its body kept) and running on it."""
    redis_client().lrem(keys.queue_key(QUEUE), 1, message.options["redis_message_id"])
    stats.publish_worker_stats(
        "w-running",
        {"host": FAKE_HOST, "pid": 2, "queues": [QUEUE]},
        {
            message.message_id: {
                "message_id": message.message_id,
                "actor": ACTOR,
                "queue": QUEUE,
                "started_ms": now_ms(),
            }
        },
        {},
        {},
    )
    redis_client().zadd(keys.heartbeats_key(), {"w-running": now_ms()})


@pytest.mark.parametrize("state", ["ready", "delayed", "retrying", "dead", "finished", "in progress"])
def test_a_message_has_one_detail_page_in_each_state(staff, every_state, state):
    message = every_state.get(state) or _enqueue("needle-running", {"api_key": "sk-live-1"})
    if state == "in progress":
        _running(message)
    url = f"/jobs/messages/{message.message_id}/"
    page = staff.get(url).content.decode()
    assert f'id="message-state" data-state="{state}"' in page
    assert f"<title>Message {message.message_id}" in page
    redis_id = message.options.get("redis_message_id")
    assert not redis_id or redis_id not in page.replace(f"{QUEUE}/{redis_id}", "")  # only in a form's reference
    if state != "finished":
        assert f"needle-{state}".replace("in progress", "running") in page  # its arguments
    assert "hunter2" not in page and "sk-live-1" not in page
    korean = staff.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "시도" in korean


def test_a_retrying_message_shows_its_last_error(staff, every_state):
    page = staff.get(f"/jobs/messages/{every_state['retrying'].message_id}/").content.decode()
    assert "SMTPServerDisconnected: smtp went away" in page.split('id="last-error"')[1].split("</td>")[0]


def test_each_failed_attempt_and_its_error_are_on_the_message_page(staff, every_state):
    message = every_state["retrying"]
    failures = [
        (message.message_id, n, now_ms(), f"SMTPServerDisconnected: attempt {n + 1} token=abc{n}") for n in range(2)
    ]
    stats.publish_worker_stats(
        "w-test", {"host": FAKE_HOST, "pid": 1, "queues": [QUEUE]}, None, {}, {}, failures=failures
    )
    page = staff.get(f"/jobs/messages/{message.message_id}/").content.decode()
    attempts = page.split('id="attempts"')[1].split("</table>")[0]
    assert attempts.count('class="attempt failed"') == 2
    assert "SMTPServerDisconnected: attempt 2 token=abc1" in attempts  # as the worker masked it


def _post(client: Client, url: str, data: dict[str, Any]) -> tuple[str, str]:
    """(the confirmation page, the page after confirming) of one action."""
    asked = client.post(url, data).content.decode()
    done = client.post(url, {**data, "confirm": "yes"}, follow=True).content.decode()
    return asked, done


def test_delete_one_ready_job_is_confirmed_and_audited(staff, every_state):
    ref = f"{QUEUE}/{every_state['ready'].options['redis_message_id']}"
    asked, done = _post(staff, "/jobs/ready/action/", {"op": "delete_ready:one", "refs": ref})
    assert 'id="confirm"' in asked and "Delete 1 ready message?" in asked
    assert "Deleted 1 message." in done
    assert queues.queue_counts(QUEUE).ready == 0
    entry = AuditEntry.objects.get(action=AuditEntry.Action.DELETE_READY)
    assert entry.count == 1 and entry.refs == ref


def test_clearing_a_queue_is_confirmed_and_audited(staff, clean_redis):
    for n in range(3):
        _enqueue(f"clear-{n}")
    running = _enqueue("running-stays")
    _running(running)
    later = _enqueue("delayed-stays", delay=600_000)
    asked, done = _post(staff, f"/jobs/queues/{QUEUE}/clear/", {"op": "clear"})
    assert "Clear queue emails?" in asked and "Its 3 ready messages" in asked
    assert "Cleared queue emails: 3 ready messages deleted." in done
    counts = queues.queue_counts(QUEUE)
    assert (counts.ready, counts.in_progress, counts.delayed) == (0, 1, 1)
    assert lookup.locate(later.message_id, [QUEUE], [])[0].state == "delayed"
    entry = AuditEntry.objects.get(action=AuditEntry.Action.CLEAR)
    assert (entry.count, entry.filters) == (3, {"queue": QUEUE})


@pytest.mark.django_db(transaction=True)  # the job runs on a worker thread, with a connection of its own
def test_clearing_a_big_queue_runs_as_a_job_with_progress(
    staff, clean_redis, settings, django_capture_on_commit_callbacks
):
    set_dramaturg(settings, "CONSOLE", BULK_INLINE_MAX=2)
    for n in range(5):
        _enqueue(f"clear-{n}")
    asked = staff.post(f"/jobs/queues/{QUEUE}/clear/", {"op": "clear"}).content.decode()
    assert "Its 5 ready messages" in asked and "This runs as a background job" in asked
    with django_capture_on_commit_callbacks(execute=True):  # the job's message, sent at the request's commit
        response = staff.post(f"/jobs/queues/{QUEUE}/clear/", {"op": "clear", "confirm": "yes"})
    job = BulkAction.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/bulk/{job.pk}/"
    assert (job.action, job.filters, job.total) == ("clear", {"queue": QUEUE}, 5)
    page = staff.get(response["Location"]).content.decode()
    assert "<h1>Cleared" in page, page[page.find("<h1>") : page.find("</h1>")]
    later = [_enqueue(f"after-confirm-{n}") for n in range(2)]  # not what the operator confirmed: they stay
    done = _bulk_job_ends(staff, job, "done")
    assert (done["count"], done["percent"]) == (5, 100)
    assert done["outcome"] == "Cleared queue emails: 5 ready messages deleted."
    assert _ready_ids() == sorted(m.options["redis_message_id"] for m in later)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.CLEAR)
    assert (entry.count, entry.filters, entry.user_email) == (5, {"queue": QUEUE}, "ops@example.com")


@pytest.mark.django_db(transaction=True)  # the job runs on a worker thread, with a connection of its own
def test_a_bulk_job_out_of_retries_is_failed_with_what_it_did_audited(staff, clean_redis, monkeypatch):
    job = BulkAction.objects.create(
        action=AuditEntry.Action.CLEAR, filters={"queue": QUEUE}, total=5, user_email="ops@example.com"
    )

    def clears_two_then_fails(user, queue, progress, limit):
        progress(2, 2)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(bulk.actions, "clear_queue", clears_two_then_fails)
    run_bulk_action.send_with_options(args=(job.pk,), max_retries=0)  # its last attempt: out of retries at once
    failed = _bulk_job_ends(staff, job, "failed")
    assert failed["error"] == "Gave up after 1 attempt. RuntimeError: the database went away"
    assert (failed["requested"], failed["count"]) == (2, 2)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.scope, entry.count, entry.filters) == ("clear", "queue", 2, {"queue": QUEUE})
    assert entry.user_email == "ops@example.com"  # who asked, kept on the bulk action
    assert BulkAction.objects.get(pk=job.pk).audit == entry
    bulk.give_up(job.pk, 2)  # a second callback changes nothing
    assert AuditEntry.objects.count() == 1


def test_a_big_clear_of_the_bulk_jobs_own_queue_is_done_in_the_request(staff, clean_redis, settings):
    """The job would wait behind the very messages it is to clear."""
    set_dramaturg(settings, "CONSOLE", BULK_INLINE_MAX=2)
    own = run_bulk_action.queue_name
    for n in range(5):
        _enqueue(f"clear-{n}", queue=own)
    asked, done = _post(staff, f"/jobs/queues/{own}/clear/", {"op": "clear"})
    assert "This runs as a background job" not in asked
    assert f"Cleared queue {own}: 5 ready messages deleted." in done
    assert queues.queue_counts(own).ready == 0 and not BulkAction.objects.exists()


def _bulk_json(client: Client, job: BulkAction) -> dict[str, Any]:
    return client.get(f"/jobs/bulk/{job.pk}/", {"format": "json"}).json()


def _bulk_job_ends(client: Client, job: BulkAction, status: str) -> dict[str, Any]:
    """Run the bulk jobs on an in-process worker until `job` has `status`; its progress page's JSON then."""
    worker = Worker(get_broker(), worker_timeout=100, worker_threads=1, queues={run_bulk_action.queue_name})
    worker.start()
    try:
        wait_for(lambda: _bulk_json(client, job)["status"] == status, timeout=20, what=f"the bulk job {status}")
    finally:
        worker.stop(timeout=10_000)
    return _bulk_json(client, job)


def _ready_ids() -> list[str]:
    return sorted(map(text, redis_client().lrange(keys.queue_key(QUEUE), 0, -1)))


def test_a_delayed_job_is_run_now_or_deleted(staff, every_state):
    later = every_state["delayed"]
    ref = f"{QUEUE}/{later.options['redis_message_id']}"
    asked, done = _post(staff, "/jobs/retries/action/", {"op": "retry_now:one", "refs": ref})
    assert "Retried now 1 message." in done
    assert [s.state for s in lookup.locate(later.message_id, [QUEUE], [])] == ["ready"]
    other = _enqueue("to-delete", delay=600_000)
    other_ref = f"{QUEUE}/{other.options['redis_message_id']}"
    asked, done = _post(staff, "/jobs/retries/action/", {"op": "delete_delayed:one", "refs": other_ref})
    assert "Delete 1 delayed message?" in asked and "Deleted 1 message." in done
    assert lookup.locate(other.message_id, [QUEUE], []) == []
    assert AuditEntry.objects.filter(action=AuditEntry.Action.DELETE_DELAYED, count=1).exists()
    refused = staff.post("/jobs/retries/action/", {"op": "delete_delayed:matching", "confirm": "yes"}, follow=True)
    assert "Unknown action." in refused.content.decode()  # deleting is one by one


def _scheduler_tick(actor: dramatiq.Actor) -> int:
    """A scheduler started afresh (as after a restart) sends what is due; how many messages landed."""
    before = queues.queue_counts(actor.queue_name).ready
    periodic.ResilientScheduler(actors=[actor]).send_actors([actor], pendulum.now())
    return queues.queue_counts(actor.queue_name).ready - before


def test_a_periodic_job_is_disabled_enabled_and_run_now_audited_and_honoured_by_the_scheduler(staff, clean_redis):
    actor = get_broker().get_actor("prune_job_store")
    url = f"/jobs/schedules/{actor.actor_name}/"
    asked, done = _post(staff, url, {"op": "disable_periodic"})
    assert "Disable prune_job_store?" in asked
    assert "Disabled prune_job_store" in done and 'data-enabled="no"' in done
    assert control.disabled_periodic() == {"prune_job_store"}
    assert _scheduler_tick(actor) == 0  # skipped, by a scheduler that did not see the click

    asked, done = _post(staff, url, {"op": "run_periodic"})
    assert "Sent prune_job_store now." in done
    assert queues.queue_counts(actor.queue_name).ready == 1  # a disabled job still runs by hand
    run = AuditEntry.objects.get(action=AuditEntry.Action.RUN_PERIODIC)
    assert lookup.locate(run.refs, [actor.queue_name], [])[0].state == "ready"

    asked, done = _post(staff, url, {"op": "enable_periodic"})
    assert "Enabled prune_job_store" in done and control.disabled_periodic() == set()
    assert _scheduler_tick(actor) == 1
    assert list(AuditEntry.objects.values_list("action", flat=True).order_by("created_at")) == [
        "disable_periodic",
        "run_periodic",
        "enable_periodic",
    ]


def test_unknown_periodic_jobs_and_actions_are_refused(staff, clean_redis):
    page = staff.post("/jobs/schedules/no_such_job/", {"op": "run_periodic"}, follow=True).content.decode()
    assert "Unknown periodic job or action." in page
    page = staff.post("/jobs/schedules/prune_job_store/", {"op": "explode"}, follow=True).content.decode()
    assert "Unknown periodic job or action." in page
    assert not AuditEntry.objects.exists()


def test_history_keeps_daily_figures_per_actor_and_queue_for_90_days(staff, clean_redis):
    """Counts published by workers land in a day's hash kept 91 days; the page adds them up per actor
    and per queue (the actor's own), and lists each day."""
    from dramaturg.store import actor_metrics
    from dramaturg.store.actor_metrics import ActorCounts

    day_ago = now_ms() - 86_400_000
    for minute, processed in ((day_ago // 60_000, 3), (now_ms() // 60_000, 2)):
        counts = ActorCounts(processed=processed, failed=1, runtime_sum_ms=40)
        stats.publish_worker_stats("w-h", {"host": FAKE_HOST, "pid": 1}, None, {}, {}, actors={minute: {ACTOR: counts}})
    today = actor_metrics.local_day(now_ms())
    ttl = redis_client().ttl(keys.actor_day_key(today))
    assert 90 * 86_400 < ttl <= actor_metrics.DAY_TTL_S
    page = staff.get("/jobs/history/", {"days": 90}).content.decode()
    actor_row = page.split(f'data-actor="{ACTOR}"')[1].split("</tr>")[0]
    assert '<td class="num">5</td><td class="num">2</td>' in actor_row  # processed, failed over both days
    queue_row = page.split(f'data-queue="{QUEUE}"')[1].split("</tr>")[0]  # send_health_alert's queue
    assert '<td class="num">5</td>' in queue_row
    assert page.count("<tr data-day=") == 90
    korean = staff.get("/jobs/history/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "액터별" in korean


def test_a_finished_attempt_that_failed_is_found_by_its_error_and_shows_it(clean_redis, staff):
    message_id, at = "f-failed-0001", now_ms()
    stats.publish_worker_stats(
        "w-test",
        {"host": FAKE_HOST, "pid": 1, "queues": [QUEUE]},
        None,
        {},
        {},
        finished=[(message_id, ACTOR, QUEUE, "failed", 1, at - 5, at, 5.0, "SMTPServerDisconnected: gone away")],
    )
    assert _found(SearchQuery(error="GONE AWAY", states=(search.FINISHED,))) == {message_id: "finished"}
    assert _found(SearchQuery(error="no such text", states=(search.FINISHED,))) == {}
    page = staff.get("/jobs/search/", {"error": "gone away", "states": "finished"}).content.decode()
    assert "SMTPServerDisconnected: gone away" in page
