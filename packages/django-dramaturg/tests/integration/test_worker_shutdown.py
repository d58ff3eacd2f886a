"""A restart is a restart: a `rundramatiq` signalled as honcho (`make run`) and systemd signal it, the whole
process group at once, stops gracefully (dramaturg.middleware.stop_signal): its job in progress finishes, it
exits 0, and it leaves the console's worker list at once (dramaturg.middleware.stats); only a worker that
vanished is "lost". And an expected failure of a job is one log line (dramaturg.log.ExpectedFailuresOneLine)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from django.tasks import TaskResultStatus, default_task_backend

from dramaturg import conf
from dramaturg.store import dead_letters, recent, stats
from dramaturg.store.filters import MessageFilter
from harness.processes import wait_for
from host.demo import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def _reports_workers() -> list[stats.WorkerInfo]:
    return [w for w in stats.workers(conf.heartbeat_timeout_ms()) if w.queues == ["reports"]]


def _parent_pid(pid: int | None) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # gone


def _its_live_workers(main_pid: int) -> list[stats.WorkerInfo]:
    """The alive registered worker processes whose parent is dramatiq's main process `main_pid`."""
    return [w for w in _reports_workers() if w.alive and _parent_pid(w.pid) == main_pid]


def test_a_worker_whose_process_group_is_signalled_twice_finishes_its_job_and_leaves_the_list(
    start_worker, clean_redis, tmp_path
):
    process = start_worker(queues=["reports"], processes=2)
    assert process.proc is not None
    # Each worker process boots Django on its own: on a loaded machine the second may take a while.
    main_pid = process.proc.pid  # rundramatiq execs dramatiq's main process: the same pid
    wait_for(lambda: len(_its_live_workers(main_pid)) == 2, 40, what="both worker processes to register")
    its_ids = {w.worker_id for w in _its_live_workers(main_pid)}  # another test's may still be listed
    done = tmp_path / "napped"
    result = tasks.nap_then_touch.enqueue(str(done), 3)
    wait_for(lambda: any(w.running for w in _reports_workers()), 20, what="the job to start")

    # What honcho's Ctrl-C and systemd's stop do: SIGTERM to the whole group, so each worker process has it
    # twice, from the supervisor and relayed by dramatiq's main process (here the relayed copy comes second,
    # once the first was handled: the order that made Dramatiq kill its worker processes at once).
    process.signal(signal.SIGTERM, group=True)
    wait_for(lambda: process.log_text().count("Stopping worker process") == 2, 10, what="both to begin stopping")
    process.signal(signal.SIGTERM, group=True)

    assert process.proc is not None and process.proc.wait(30) == 0, process.log_tail()
    assert done.exists()
    assert default_task_backend.get_result(result.id).status == TaskResultStatus.SUCCESSFUL
    # Gone at once, not "lost" after the heartbeat timeout.
    assert [w for w in _reports_workers() if w.worker_id in its_ids] == []
    assert "Killing worker process" not in process.log_text()


def test_an_expected_failure_of_a_job_is_one_log_line_and_its_finished_record_keeps_the_error(
    start_worker, clean_redis
):
    process = start_worker(queues=["reports"])
    sent = tasks.times_out.send("smtp-like")
    wait_for(lambda: dead_letters.page_dead(MessageFilter(queue="reports")).total == 1, 30, what="it to die")
    # Its finished record keeps the error, one line (what the console's finished list shows).
    ended = wait_for(lambda: recent.finished(sent.message_id), 10, what="its finished record")
    assert ended["outcome"] == recent.DEAD and ended["error"] == "TimeoutError: smtp-like: the server did not answer"
    log = process.log_text()
    lines = [line for line in log.splitlines() if "smtp-like: the server did not answer" in line]
    assert len(lines) == 2 and all("(an expected failure)" in line for line in lines), log
    assert "Traceback" not in log
