"""WORKER.WARM_UP: each callable run once per worker process at boot, a failing one logged."""

import logging

from dramaturg.middleware.warm_up import WarmUp
from harness.dramaturg_settings import set_dramaturg

CALLS: list[str] = []


def first() -> None:
    CALLS.append("first")


def broken() -> None:
    raise RuntimeError("template missing")


def second() -> None:
    CALLS.append("second")


def test_each_warm_up_runs_in_order_at_process_boot_and_a_failing_one_is_logged(settings, caplog):
    CALLS.clear()
    set_dramaturg(settings, "WORKER", WARM_UP=[f"{__name__}.first", f"{__name__}.broken", f"{__name__}.second"])
    with caplog.at_level(logging.INFO, logger="dramaturg.middleware.warm_up"):
        WarmUp().after_process_boot(broker=None)  # the broker is not used
    assert CALLS == ["first", "second"]
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failed] == [f"Warm-up {__name__}.broken failed; the worker starts without it"]
    assert "template missing" in caplog.text  # its traceback
    assert sum("done in" in r.getMessage() for r in caplog.records) == 2
