"""The reference project's tests: the harness's fixtures (packages/django-dramaturg/tests/harness) and
the fault suite's summary table."""

from __future__ import annotations

import pytest

pytest_plugins = ["harness.fixtures", "tests.report_fixtures"]

FAULT_ROWS: list[tuple[str, int, int, int, int]] = []


@pytest.fixture
def fault_summary():
    """record(scenario, jobs_in, messages): adds a row to the fault table printed at the end."""

    def record(scenario: str, jobs_in: int, messages: list) -> None:
        distinct = len({m["To"] for m in messages})
        FAULT_ROWS.append((scenario, jobs_in, distinct, len(messages) - distinct, jobs_in - distinct))

    return record


def pytest_terminal_summary(terminalreporter) -> None:
    if not FAULT_ROWS:
        return
    terminalreporter.section("fault suite")
    terminalreporter.write_line(f"{'scenario':58} {'jobs in':>8} {'effects':>8} {'dupes':>6} {'lost':>5}")
    for scenario, jobs_in, effects, duplicates, lost in FAULT_ROWS:
        terminalreporter.write_line(f"{scenario:58} {jobs_in:>8} {effects:>8} {duplicates:>6} {lost:>5}")
