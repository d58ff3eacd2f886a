from __future__ import annotations

from datetime import datetime, timezone as dt_timezone
from typing import Any, Optional

from django import template
from django.utils import timezone

from jobs.masking import pretty, preview

register = template.Library()


@register.filter
def from_ms(value: Optional[int]) -> Optional[datetime]:
    """Epoch milliseconds -> an aware datetime in the current time zone."""
    if value in (None, ""):
        return None
    return timezone.localtime(datetime.fromtimestamp(int(value) / 1000, tz=dt_timezone.utc))


@register.filter
def as_json(value: Any) -> str:
    return pretty(value)


@register.filter
def call_preview(message) -> str:
    return preview(message.args, message.kwargs)


@register.filter
def get_item(mapping: dict, key: str) -> Any:
    return mapping.get(key, "")


@register.filter
def without(mapping: dict, key: str) -> dict:
    """The mapping less one key (the options without the traceback shown above them)."""
    return {k: v for k, v in (mapping or {}).items() if k != key}
