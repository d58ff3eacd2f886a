"""Epoch-millisecond time, the unit the broker and the job store keep times in."""
from __future__ import annotations

import time
from datetime import datetime, timezone as dt_timezone
from typing import Optional, Union

from django.utils import timezone


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def from_ms(value: Union[int, str, None]) -> Optional[datetime]:
    """Epoch milliseconds -> an aware datetime in the current time zone (None for a missing value)."""
    if value in (None, ""):
        return None
    return timezone.localtime(datetime.fromtimestamp(int(value) / 1000, tz=dt_timezone.utc))
