from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from jobs import timeutil
from jobs.charts import duration_label
from jobs.masking import pretty, preview

register = template.Library()

register.filter("from_ms", timeutil.from_ms)


@register.filter
def as_json(value: Any) -> str:
    return pretty(value)


@register.filter
def call_preview(message) -> str:
    return preview(message.args, message.kwargs)


@register.filter
def without(mapping: dict, key: str) -> dict:
    """The mapping less one key (the options without the traceback shown above them)."""
    return {k: v for k, v in (mapping or {}).items() if k != key}


@register.filter
def seconds_label(seconds: float | None) -> str:
    """A readable age: 45 s, 12 min, 3.5 h, 2 d."""
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.0f} d"


@register.filter
def duration_ms(value: float | None) -> str:
    return duration_label(value)


@register.simple_tag
def time_zone_name() -> str:
    """The time zone the pages show times in (TIME_ZONE)."""
    return timezone.get_current_timezone_name()
