"""The chaos soak, short: bench/chaos.py for 1.5 minutes under a fixed seed (about 2 minutes in all).

CHAOS_SEED and CHAOS_MINUTES run another schedule or a longer soak; on PostgreSQL the soak runs on a
server of its own (--own-postgres), which its database faults restart; on SQLite they hold its write lock. The soak
prints its table (and the command that replays it) into the test's output and
leaves its logs under test-artifacts/.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from harness.postgres_server import unavailable_reason

pytestmark = [pytest.mark.integration]

SEED = os.environ.get("CHAOS_SEED", "7")  # a schedule with every kind of fault within 1.5 minutes
MINUTES = os.environ.get("CHAOS_MINUTES", "1.5")


def run_soak(run_dir: Path) -> tuple[int, str]:
    # On PostgreSQL the soak runs on a server of its own, which its database faults restart.
    own_postgres = connection.vendor == "postgresql" and unavailable_reason() is None
    args = [
        sys.executable,
        "bench/chaos.py",
        "--minutes",
        MINUTES,
        "--seed",
        SEED,
        "--quiet-timeout",
        "90",  # the bench's default: a starved machine drains the backlog slower (quiet as soon as drained)
        "--run-dir",
        str(run_dir),
        *(["--own-postgres"] if own_postgres else []),
    ]
    soak = subprocess.Popen(args, cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = soak.communicate(timeout=float(MINUTES) * 60 + 240)
    except subprocess.TimeoutExpired:
        soak.send_signal(signal.SIGTERM)  # the soak kills every process it started on SIGTERM
        output, _ = soak.communicate(timeout=30)
    return soak.returncode, output


@pytest.mark.long  # started first on an xdist worker (harness.fixtures.long_first)
def test_chaos_soak_loses_nothing_sends_nothing_twice_and_hides_no_failure(capsys):
    run_dir = Path(settings.BASE_DIR) / "test-artifacts" / f"chaos-seed{SEED}-{os.getpid()}"
    code, output = run_soak(run_dir)
    with capsys.disabled():
        print("\n" + output)
    summary = json.loads((run_dir / "summary.json").read_text())
    table = output[output.find("chaos soak, seed") :]
    assert summary["signups_committed"] > 0 and summary["faults"], table
    assert summary["lost"] == 0, table
    assert summary["duplicates_other"] == 0, table
    assert summary["responses_5xx"] == 0, table
    assert summary["connection_errors_web_up"] == 0, table
    assert summary["quiet"], table
    assert summary["poison_dead_lettered"] == summary["poison_injected"] > 0, table
    assert summary["failures"] == [] and code == 0, table
