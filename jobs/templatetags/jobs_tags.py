from __future__ import annotations

from typing import Any

from django import template

from jobs import timeutil
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
