"""The `with_zone` template filter, a builtin of every template (settings.TEMPLATES): times shown with their zone."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()


@register.filter(expects_localtime=False)
def with_zone(value: datetime | None, fmt: str = "Y-m-d H:i:s") -> str:
    """`value` in the current time zone (TIME_ZONE), formatted by `fmt` (Django's date format), then its zone:
    "2026-11-25 16:20:01 KST". Naive datetimes are taken to be in the current zone already; None gives ""."""
    if value is None or value == "":
        return ""
    if not isinstance(value, datetime):
        return str(value)
    local = timezone.localtime(value) if timezone.is_aware(value) else timezone.make_aware(value)
    return f"{date_format(local, fmt)} {local.tzname() or date_format(local, 'O')}"
