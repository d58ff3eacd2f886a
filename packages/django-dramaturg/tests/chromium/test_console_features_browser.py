"""The console's operator features in headless Debian Chromium, at 1280 px and 390 px, in English and
Korean (issue 21): a search by argument; a message's page in each state (ready, delayed, retrying, in
progress, finished, dead); a periodic job disabled, run now and enabled again; a queue cleared after
its confirmation. Screenshots of each page (test-artifacts/screenshots; a chosen set is committed
under docs/screenshots/)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from dramatiq import Message, get_broker
from playwright.sync_api import expect

from dramaturg import actions
from dramaturg.models import AuditEntry
from dramaturg.store import control, delayed, keys, queues, stats
from dramaturg.store.connection import client as redis_client
from dramaturg.timeutil import now_ms
from harness.browser import browser_page, log_in, screenshot
from harness.fixtures import FAKE_HOST

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.usefixtures("fake_workers")]

IDLE = "features-idle"  # no worker consumes it: what is put there stays where the test put it
ACTOR = "send_health_alert"
PASSWORD = "ops-password-123"
VIEWS = [(1280, "en"), (390, "en"), (1280, "ko"), (390, "ko")]


@pytest.fixture
def staff(live, monkeypatch) -> Any:
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    User: Any = get_user_model()  # the host's
    return User.objects.create_user("ops", "ops@example.com", PASSWORD, is_staff=True, is_superuser=True)


def _enqueue(*args: Any, delay: int | None = None, **options: Any) -> Message:
    get_broker().declare_queue(IDLE)  # as an actor of that queue would (the console lists declared queues)
    message: Message[Any] = Message(queue_name=IDLE, actor_name=ACTOR, args=args, kwargs={}, options=options)
    return get_broker().enqueue(message, delay=delay)


def _every_state() -> dict[str, str]:
    """A message in each state, each with the argument "needle-<state>": their message ids."""
    ready = _enqueue("needle-ready", {"password": "hunter2"})
    later = _enqueue("needle-delayed", delay=600_000)
    retrying = _enqueue(
        "needle-retrying", delay=600_000, retries=2, traceback="Traceback\nSMTPServerDisconnected: gone"
    )
    dead = _enqueue("needle-dead", delay=600_000, retries=5)
    actions.perform(
        None, AuditEntry.Action.KILL, "one", refs=[delayed.MessageRef(IDLE, dead.options["redis_message_id"])]
    )
    running = _enqueue("needle-running")
    redis_client().lrem(keys.queue_key(IDLE), 1, running.options["redis_message_id"])  # taken by a worker
    job = {"message_id": running.message_id, "actor": ACTOR, "queue": IDLE, "started_ms": now_ms()}
    stats.publish_worker_stats(
        "w-browser", {"host": FAKE_HOST, "pid": 1, "queues": [IDLE]}, {running.message_id: job}, {}, {}
    )
    redis_client().zadd(keys.heartbeats_key(), {"w-browser": now_ms()})
    finished: Message[Any] = Message(queue_name=IDLE, actor_name=ACTOR, args=(), kwargs={}, options={})
    at = now_ms()
    record = (finished.message_id, ACTOR, IDLE, "done", 1, at - 40, at, 40.0)
    stats.publish_worker_stats(
        "w-browser", {"host": FAKE_HOST, "pid": 1, "queues": [IDLE]}, None, {}, {}, finished=[record]
    )
    return {
        "ready": ready.message_id,
        "delayed": later.message_id,
        "retrying": retrying.message_id,
        "dead": dead.message_id,
        "in progress": running.message_id,
        "finished": finished.message_id,
    }


def _name(what: str, width: int, lang: str) -> str:
    return f"console-{what.replace(' ', '-')}-{width}-{lang}"


@pytest.mark.parametrize(("width", "lang"), VIEWS)
def test_search_by_argument_and_a_message_page_in_each_state(live, staff, width, lang):
    ids = _every_state()
    with browser_page(live.url, width=width, locale=lang) as page:
        log_in(page, "ops", PASSWORD, "/jobs/search/")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        page.fill("#id_args", "needle-retrying")
        page.click("#search")
        rows = page.locator("#results tbody tr[data-message-id]")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-state", "retrying")
        expect(rows.first).to_contain_text("SMTPServerDisconnected: gone")
        screenshot(page, _name("search", width, lang))
        rows.first.locator("a").first.click()
        page.wait_for_url(f"**/jobs/messages/{ids['retrying']}/")

        for state, message_id in ids.items():
            page.goto(f"/jobs/messages/{message_id}/")
            expect(page.locator("#message-state")).to_have_attribute("data-state", state)
            expect(page.locator("#message-title code")).to_have_text(message_id)  # the one id, as in the URL
            if state != "finished":
                expect(page.locator("#args")).to_contain_text(f"needle-{state}".replace("in progress", "running"))
            expect(page.locator("#attempts")).to_be_visible()
            assert "hunter2" not in page.content()
            screenshot(page, _name(f"message-{state}", width, lang))


@pytest.mark.parametrize(("width", "lang"), VIEWS)
def test_a_periodic_job_disabled_run_now_and_a_queue_cleared(live, staff, width, lang):
    with browser_page(live.url, width=width, locale=lang) as page:
        log_in(page, "ops", PASSWORD, "/jobs/schedules/")
        row = page.locator("tr[data-actor='prune_job_store']")
        row.locator("button[value=disable_periodic]").click()
        screenshot(page, _name("schedule-disable-confirm", width, lang))
        page.click("#confirm")
        expect(page.locator("tr[data-actor='prune_job_store']")).to_have_attribute("data-enabled", "no")
        assert control.disabled_periodic() == {"prune_job_store"}
        screenshot(page, _name("schedules-disabled", width, lang))

        page.locator("tr[data-actor='prune_job_store'] button[value=run_periodic]").click()
        page.click("#confirm")
        expect(page.locator("ul.messages li.success")).to_have_count(1)
        run = AuditEntry.objects.get(action=AuditEntry.Action.RUN_PERIODIC)
        assert run.count == 1 and run.refs  # the message sent, named in the audit entry

        page.locator("tr[data-actor='prune_job_store'] button[value=enable_periodic]").click()
        page.click("#confirm")
        expect(page.locator("tr[data-actor='prune_job_store']")).to_have_attribute("data-enabled", "yes")

        for n in range(3):
            _enqueue(f"clear-me-{n}")
        page.goto(f"/jobs/queues/{IDLE}/")
        expect(page.locator("#messages tbody tr[data-message-id]")).to_have_count(3)
        page.click("#clear")
        expect(page.locator("#confirm")).to_be_visible()
        screenshot(page, _name("queue-clear-confirm", width, lang))
        page.click("#confirm")
        expect(page.locator("#messages tbody tr[data-message-id]")).to_have_count(0)
        screenshot(page, _name("queue-cleared", width, lang))
    assert queues.queue_counts(IDLE).ready == 0
    cleared = AuditEntry.objects.get(action=AuditEntry.Action.CLEAR)
    assert (cleared.count, cleared.filters) == (3, {"queue": IDLE})
    assert list(AuditEntry.objects.order_by("created_at").values_list("action", flat=True)) == [
        "disable_periodic",
        "run_periodic",
        "enable_periodic",
        "clear",
    ]


def test_pages_update_live_without_a_reload(live, staff):
    """A message's page follows the message (delayed, then ready once run now elsewhere), and the workers
    page a worker that starts running a job, without a reload (static/dramaturg/live.js)."""
    later = _enqueue("needle-live", delay=600_000)
    with browser_page(live.url) as page:
        log_in(page, "ops", PASSWORD, f"/jobs/messages/{later.message_id}/")
        expect(page.locator("#message-state")).to_have_attribute("data-state", "delayed")
        page.evaluate("window.loadedOnce = true")  # gone if the page reloads
        ref = delayed.MessageRef(IDLE, later.options["redis_message_id"])
        actions.perform(None, AuditEntry.Action.RETRY_NOW, "one", refs=[ref])
        expect(page.locator("#message-state")).to_have_attribute("data-state", "ready", timeout=15_000)
        assert page.evaluate("window.loadedOnce") is True

        page.goto("/jobs/workers/")
        page.evaluate("window.loadedOnce = true")
        job = {"message_id": later.message_id, "actor": ACTOR, "queue": IDLE, "started_ms": now_ms(), "thread": "T-1"}
        stats.publish_worker_stats(
            "w-live", {"host": FAKE_HOST, "pid": 3, "queues": [IDLE], "threads": 2}, {later.message_id: job}, {}, {}
        )
        redis_client().zadd(keys.heartbeats_key(), {"w-live": now_ms()})
        expect(page.locator(f"section[data-worker='w-live'] tr[data-message-id='{later.message_id}']")).to_have_count(
            1, timeout=15_000
        )
        assert page.evaluate("window.loadedOnce") is True
        screenshot(page, "console-workers-1280-en")
