"""Epoch-millisecond time, the unit the broker and the job store keep times in."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.utils import timezone


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def from_ms(value: int | str | None) -> datetime | None:
    """Epoch milliseconds -> an aware datetime in the current time zone (None for a missing value)."""
    if value is None or value == "":
        return None
    return timezone.localtime(datetime.fromtimestamp(int(value) / 1000, tz=UTC))
