"""What `make run` starts, from the Procfile: the development mail sink prints each email readable (its subject,
recipients and text part decoded, Korean included: project/mail_sink.py), and a Ctrl-C stops the worker
gracefully under honcho (exit 0, never SIGKILLed) and it leaves the console's worker list at once."""

import contextlib
import os
import shlex
import signal
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from dramaturg import conf
from dramaturg.store import stats
from harness.ports import reserve_port
from harness.processes import child_env, wait_for

SUBJECT = "환영합니다, 지민 님"
TEXT = "가입해 주셔서 감사합니다.\nThanks for signing up."


def procfile_command(name: str) -> list[str]:
    for line in (Path(settings.BASE_DIR) / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return shlex.split(line.partition(":")[2])
    raise AssertionError(f"no {name} process in the Procfile")


@pytest.fixture
def sink(tmp_path):
    port = reserve_port()
    args = [a.replace("127.0.0.1:1025", f"127.0.0.1:{port}") for a in procfile_command("smtp")]
    assert args[0] == "python"
    log = tmp_path / "smtp.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, *args[1:]], cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: _listens(port) or process.poll() is not None, 20, what="the mail sink to listen")
        assert process.poll() is None, log.read_text()
        yield port, log
    finally:
        process.kill()
        process.wait(10)


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_the_mail_sink_prints_a_korean_email_decoded(sink):
    port, log = sink
    email = EmailMultiAlternatives(SUBJECT, TEXT, "noreply@example.com", ["jimin@example.com"])
    email.attach_alternative("<p>가입해 주셔서 감사합니다.</p>", "text/html")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(email.message())
    wait_for(lambda: "Thanks for signing up." in log.read_text(encoding="utf-8"), 10, what="the email printed")
    printed = log.read_text(encoding="utf-8")
    assert f"Subject: {SUBJECT}" in printed
    assert "To:      jimin@example.com" in printed
    assert TEXT in printed
    assert "[text/html:" in printed  # the HTML part is one line, not its encoded body
    assert "=?utf-8?" not in printed and "base64" not in printed.lower()


def test_ctrl_c_under_honcho_stops_the_worker_gracefully_and_it_leaves_the_worker_list(tmp_path, clean_redis):
    procfile = tmp_path / "Procfile"
    procfile.write_text("worker: " + shlex.join(procfile_command("worker")) + "\n")
    before = {w.worker_id for w in stats.workers(conf.heartbeat_timeout_ms())}
    env = child_env(PATH=f"{Path(sys.executable).parent}:{child_env()['PATH']}")
    log = tmp_path / "honcho.log"
    with open(log, "wb") as out:
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", str(procfile), "-d", str(settings.BASE_DIR)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        ours = lambda: [w for w in stats.workers(conf.heartbeat_timeout_ms()) if w.worker_id not in before]  # noqa: E731
        wait_for(lambda: len(ours()) == 2, 60, what="the Procfile's two worker processes to register")
        honcho.send_signal(signal.SIGINT)  # Ctrl-C
        honcho.wait(30)
    finally:
        if honcho.poll() is None:  # honcho stops its own children (their own sessions), then goes itself
            honcho.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                honcho.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(honcho.pid, signal.SIGKILL)
    printed = log.read_text()
    assert "worker.1 stopped (rc=0)" in printed, printed
    assert printed.count("Worker has been shut down.") == 2
    assert "SIGKILL" not in printed and "Killing worker process" not in printed
    assert ours() == []  # left the list at once: not "lost"
