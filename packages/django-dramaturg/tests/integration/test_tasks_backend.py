"""django.tasks on Dramatiq (dramaturg.tasks_backend): what Django's documentation says a task backend
does, over real Redis, a real `rundramatiq` process, the outbox and its relay."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta

import dramatiq
import pytest
from django.conf import settings
from django.db import transaction
from django.tasks import TaskResultStatus, default_task_backend, task, task_backends
from django.tasks.checks import check_tasks
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils import timezone

from dramaturg.middleware.task_results import TaskResults
from dramaturg.models import OutboxMessage
from dramaturg.store import dead_letters, queues, task_results
from dramaturg.store.connection import client
from dramaturg.store.filters import MessageFilter
from dramaturg.tasks_backend import DramatiqBackend
from dramaturg.tasks_backend.results import identity_of
from harness.processes import ManagedProcess, child_env, wait_for
from host.demo import tasks

TERMINAL = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


def finished(result_id: str, timeout: float = 30):
    """The result once it is SUCCESSFUL or FAILED."""
    return wait_for(
        lambda: (r := default_task_backend.get_result(result_id)).status in TERMINAL and r,
        timeout=timeout,
        what=f"task {result_id} to finish",
    )


@pytest.fixture
def tasks_worker(worker, clean_redis, transactional_db):
    """The session's real worker (queues emails + default; it knows host.demo's tasks)."""
    return worker


# --- The backend as Django's contract describes it (no worker needed)


def test_the_backend_is_the_default_and_says_what_it_supports():
    backend = task_backends["default"]
    assert isinstance(backend, DramatiqBackend)
    assert (
        backend.supports_defer,
        backend.supports_async_task,
        backend.supports_get_result,
        backend.supports_priority,
    ) == (True, True, True, False)


def test_a_task_is_a_dramatiq_actor_named_by_its_module_path():
    actor = dramatiq.get_broker().get_actor("host.demo.tasks.fails_once")
    assert actor.queue_name == "default" and actor.options["max_retries"] == 3
    assert dramatiq.get_broker().get_actor("host.demo.tasks.add_on_reports").queue_name == "reports"


def test_an_unknown_queue_is_refused_when_the_task_is_defined_or_retargeted():
    with pytest.raises(InvalidTask, match="Queue 'nowhere' is not valid"):
        tasks.add.using(queue_name="nowhere")
    with pytest.raises(InvalidTask, match="Queue 'nowhere' is not valid"):
        task(queue_name="nowhere")(_module_level_for_tests)
    with pytest.raises(InvalidTask, match="priority"):
        tasks.add.using(priority=10)


def _module_level_for_tests() -> None:
    """Defined at module level, as Django requires of a task function."""


def test_check_reports_a_misconfigured_backend(settings):
    settings.TASKS = {
        "default": {
            "BACKEND": "dramaturg.tasks_backend.DramatiqBackend",
            "QUEUES": ["default", "emails", "not a queue"],
            "OPTIONS": {"RESULT_TTL_S": 0},
        }
    }
    errors = {e.id: e.msg for e in task_backends["default"].check()}
    assert "not a queue" in errors["dramaturg.E102"] and "RESULT_TTL_S" in errors["dramaturg.E103"]
    # Tasks defined for queues the settings no longer list: reports, where host.demo used it.
    assert any(
        "add_on_reports" in e.msg and "reports" in e.msg
        for e in task_backends["default"].check()
        if e.id == "dramaturg.E106"
    )
    settings.TASKS = {"default": {**settings.TASKS["default"], "OPTIONS": {"RESULT_TTL": 60}}}
    assert (
        "expected TASKS['default']['OPTIONS']['RESULT_TTL_S']"
        in ({e.id: e.msg for e in task_backends["default"].check()}["dramaturg.E104"])
    )


def test_check_is_clean_with_the_projects_settings():
    assert task_backends["default"].check() == []
    assert list(check_tasks()) == []  # Django's own check, which `manage.py check` runs


@pytest.mark.django_db(transaction=True)
def test_a_non_json_argument_is_refused_and_nothing_is_sent(clean_redis):
    with pytest.raises(TypeError, match="Unsupported type"):
        tasks.add.enqueue(timezone.now(), 1)
    with transaction.atomic(), pytest.raises(TypeError):
        tasks.add.enqueue({1, 2}, 1)
    assert OutboxMessage.objects.count() == 0
    assert queues.queue_counts("default").ready == 0


def test_an_unknown_result_id_does_not_exist(clean_redis, db):
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result("no-such-result")


# --- Real worker


@pytest.mark.integration
def test_a_value_comes_back(tasks_worker):
    sent = []
    task_enqueued.connect(receiver := lambda sender, task_result, **kw: sent.append(task_result.id))
    try:
        result = tasks.add.enqueue(2, 3)
    finally:
        task_enqueued.disconnect(receiver)
    assert result.status == TaskResultStatus.READY and sent == [result.id]
    done = finished(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL and done.return_value == 5
    assert done.args == [2, 3] and done.attempts == 1 and len(done.worker_ids) == 1
    assert done.enqueued_at <= done.started_at <= done.finished_at and done.errors == []
    assert tasks.add.get_result(result.id).return_value == 5  # through the Task, as Django documents
    # The worker sent task_started and task_finished (Django's own receivers log them; the lines reach the
    # log file through the worker's parent process, so they may come a moment after the result).
    for state in ("RUNNING", "SUCCESSFUL"):
        line = f"Task id={result.id} path=host.demo.tasks.add state={state}"
        wait_for(lambda line=line: line in tasks_worker.log_text(), what=f"the worker to log {line!r}")


@pytest.mark.integration
def test_async_tasks_and_aget_result(tasks_worker):
    result = tasks.double.enqueue(21)
    finished(result.id)
    from asgiref.sync import async_to_sync

    assert async_to_sync(default_task_backend.aget_result)(result.id).return_value == 42


@pytest.mark.integration
def test_a_failure_comes_back_with_its_traceback_and_is_a_dead_letter(tasks_worker):
    result = tasks.explode.enqueue("boom")
    done = finished(result.id)
    assert done.status == TaskResultStatus.FAILED
    assert done.attempts == 2 and len(done.errors) == 2  # max_retries=1: two attempts, each error kept
    error = done.errors[-1]
    assert error.exception_class is ValueError
    assert "in explode" in error.traceback and error.traceback.rstrip().endswith("ValueError: boom")
    with pytest.raises(ValueError, match="Task failed"):
        _ = done.return_value
    # The same message is a dead letter on the dashboard, filed under its actor and exception.
    wait_for(lambda: dead_letters.find_dead(result.id, ["default"]), what="the dead letter")
    [group] = dead_letters.dead_groups(MessageFilter(queue="default", actor="host.demo.tasks.explode"))
    assert group.exception_type == "ValueError" and group.count == 1


@pytest.mark.integration
def test_arguments_that_do_not_fit_fail_the_task_before_it_runs(tasks_worker):
    done = finished(tasks.add.enqueue(1).id)  # Django does not check arguments; the worker does (ValidateArguments)
    assert done.status == TaskResultStatus.FAILED and done.attempts == 0 and done.started_at is None
    assert "Arguments do not fit host.demo.tasks.add" in done.errors[0].traceback
    wait_for(lambda: dead_letters.find_dead(done.id, ["default"]), what="the dead letter")


@pytest.mark.integration
def test_a_rejection_faster_than_the_enqueuers_record_still_fails_the_task(tasks_worker, monkeypatch):
    """The worker rejects the message before the enqueuing process has recorded it READY (this process's
    record held back: as if it were slow): FAILED all the same, and the late READY does not overwrite it."""
    broker = dramatiq.get_broker()
    [recorder] = [m for m in broker.middleware if isinstance(m, TaskResults)]
    monkeypatch.setattr(recorder, "after_enqueue", lambda *args, **kwargs: None)
    message = dramatiq.Message(
        queue_name="default",
        actor_name="host.demo.tasks.add",
        args=(1,),
        kwargs={},
        options={"task_backend": "default"},
    )
    broker.enqueue(message)
    wait_for(lambda: task_results.get(message.message_id), what="the worker's record of the rejection")
    done = finished(message.message_id)
    assert (
        done.status == TaskResultStatus.FAILED
        and "Arguments do not fit host.demo.tasks.add" in done.errors[0].traceback
    )
    assert task_results.record_enqueued(message.message_id, identity_of(message, "default"), 60)  # the late enqueuer
    assert default_task_backend.get_result(message.message_id).status == TaskResultStatus.FAILED


@pytest.mark.integration
def test_a_non_json_return_value_fails_the_task_without_retries(tasks_worker):
    done = finished(tasks.returns_a_set.enqueue().id)
    assert done.status == TaskResultStatus.FAILED and done.attempts == 1
    assert "ReturnValueNotJSON" in done.errors[0].exception_class_path


@pytest.mark.integration
def test_the_context_gives_the_attempt_and_the_result_id(tasks_worker):
    result = tasks.fails_once.enqueue("ctx")
    done = finished(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == {"attempt": 2, "result_id": result.id, "label": "ctx"}
    assert done.attempts == 2 and len(done.errors) == 1 and "attempt 1 of ctx fails" in done.errors[0].traceback


@pytest.mark.integration
def test_run_after_waits(tasks_worker):
    run_after = timezone.now() + timedelta(seconds=2)
    result = tasks.add.using(run_after=run_after).enqueue(1, 1)
    assert default_task_backend.get_result(result.id).status == TaskResultStatus.READY
    done = finished(result.id)
    assert done.return_value == 2 and done.started_at >= run_after


@pytest.mark.integration
def test_run_after_inside_a_transaction_goes_through_the_outbox(tasks_worker):
    run_after = timezone.now() + timedelta(seconds=2)
    with transaction.atomic():
        result = tasks.add.using(run_after=run_after).enqueue(2, 2)
        row = OutboxMessage.objects.get(message_id=result.id)
        assert row.actor_name == "host.demo.tasks.add" and row.options["eta"] > 0
    done = finished(result.id)
    assert done.return_value == 4 and done.started_at >= run_after


@pytest.mark.integration
def test_a_rolled_back_enqueue_never_runs(tasks_worker, tmp_path):
    marker = tmp_path / "rolled-back"

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        rolled_back = tasks.touch.enqueue(str(marker))
        assert default_task_backend.get_result(rolled_back.id).status == TaskResultStatus.READY  # in the outbox
        raise Rollback
    assert OutboxMessage.objects.count() == 0
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result(rolled_back.id)
    # A task enqueued after it runs; the rolled-back one never did.
    with transaction.atomic():
        later = tasks.touch.enqueue(str(tmp_path / "committed"))
    assert finished(later.id).status == TaskResultStatus.SUCCESSFUL
    assert (tmp_path / "committed").exists() and not marker.exists()


@pytest.mark.integration
def test_a_web_process_killed_after_the_commit_still_gets_its_task_run(tasks_worker, tmp_path):
    """The first on-commit callback kills the process: the row is committed, its dispatch never runs."""
    marker = tmp_path / "relayed"
    code = (
        "import os, signal\n"
        "from django.db import transaction\n"
        "from host.demo.tasks import touch\n"
        "with transaction.atomic():\n"
        "    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))\n"
        f"    result = touch.enqueue({str(marker)!r})\n"
        "    print(result.id, flush=True)\n"
    )
    env = child_env()
    killed = subprocess.run(
        [sys.executable, "-m", "django", "shell", "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    result_id = killed.stdout.split()[-1]
    assert OutboxMessage.objects.get(message_id=result_id).dispatched_at is None
    assert default_task_backend.get_result(result_id).status == TaskResultStatus.READY  # waiting in the outbox
    relay = ManagedProcess(["run_outbox_relay", "--interval", "0.2"], env, b"Outbox relay started", "relay").start()
    try:
        done = finished(result_id, timeout=40)
    finally:
        relay.kill()
    assert done.status == TaskResultStatus.SUCCESSFUL and done.return_value == str(marker) and marker.exists()


@pytest.mark.integration
def test_results_expire_after_their_ttl(start_worker, clean_redis, transactional_db, settings):
    ttl = 2
    settings.TASKS = {"default": {**settings.TASKS["default"], "OPTIONS": {"RESULT_TTL_S": ttl}}}
    start_worker(queues=["reports"], TASK_RESULT_TTL_S=str(ttl))
    result = tasks.add_on_reports.enqueue(20, 22)
    assert finished(result.id).return_value == 42
    wait_for(lambda: _gone(result.id), timeout=ttl + 10, what="the result to expire")
    assert not [k for k in client().scan_iter(match=f"*{result.id}*")]


def _gone(result_id: str) -> bool:
    try:
        default_task_backend.get_result(result_id)
    except TaskResultDoesNotExist:
        return True
    return False
