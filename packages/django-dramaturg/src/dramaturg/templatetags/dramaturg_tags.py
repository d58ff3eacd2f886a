from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.template import Context
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy

from dramaturg import banner, timeutil
from dramaturg.charts import duration_label
from dramaturg.masking import mask_text, pretty, preview
from dramaturg.store import delayed

register = template.Library()

register.filter("from_ms", timeutil.from_ms)


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


def _aware(value: datetime | int | str | None) -> datetime | None:
    """A datetime, or epoch milliseconds (what the store keeps), as an aware datetime; None for nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    return timeutil.from_ms(value)


@register.filter(expects_localtime=False)
def relative(value: datetime | int | str | None) -> str:
    """How long ago (or how far ahead) a time is, in the page's language: "3 min ago", "in 45 s"; "" for none.
    Takes a datetime or epoch milliseconds."""
    moment = _aware(value)
    if moment is None:
        return ""
    delta_s = (timezone.now() - moment).total_seconds()
    if abs(delta_s) < 1:
        return gettext("just now")
    age = seconds_label(abs(delta_s))
    return (gettext("%(age)s ago") if delta_s > 0 else gettext("in %(age)s")) % {"age": age}


@register.filter(expects_localtime=False)
def when(value: datetime | int | str | None, fmt: str = "Y-m-d H:i:s") -> SafeString | str:
    """A time as the console shows it: with its zone, then how long ago, in a <time> element
    ("2026-11-25 16:20:01 KST · 3 min ago"). Takes a datetime or epoch milliseconds; "" for none."""
    moment = _aware(value)
    if moment is None:
        return ""
    return format_html(
        '<time datetime="{}">{}</time> <span class="muted ago">· {}</span>',
        timezone.localtime(moment).isoformat(timespec="seconds"),
        with_zone(moment, fmt),
        relative(moment),
    )


@register.inclusion_tag("dramaturg/_health_banner.html", takes_context=True)
def health_banner(context: Context) -> dict[str, Any]:
    """The banner of failing health checks, each linked to what fails (nothing when all pass). Not on
    live.js's re-reads (X-Requested-With: fetch): they replace only the page's [data-live] blocks."""
    request = context.get("request")
    if request is not None and request.headers.get("X-Requested-With") == "fetch":
        return {"failing": None}
    return {"failing": banner.failing_checks()}


# What the store and the workers call a state or an outcome (kept as data-state attributes and in
# JSON), in the page's language.
STATE_LABELS = {
    "alive": gettext_lazy("alive"),
    "lost": gettext_lazy("lost"),
    "ready": gettext_lazy("ready"),
    "ready/in progress": gettext_lazy("ready/in progress"),
    "queued": gettext_lazy("queued"),
    "delayed": gettext_lazy("delayed"),
    "retrying": gettext_lazy("retrying"),
    "in progress": gettext_lazy("in progress"),
    "running": gettext_lazy("running"),
    "finished": gettext_lazy("finished"),
    "done": gettext_lazy("done"),
    "processed": gettext_lazy("processed"),
    "failed": gettext_lazy("failed"),
    "failed, retry enqueued": gettext_lazy("failed, retry enqueued"),
    "dead": gettext_lazy("dead"),
    "not found": gettext_lazy("not found"),
}


# Reasons the job system itself writes into a dead letter (kept in English in Redis), in the page's language.
REASON_LABELS = {
    delayed.KILLED_REASON: gettext_lazy("killed by an operator"),
}


@register.filter
def reason_label(reason: str) -> str:
    """A dead letter's reason as shown to a person: the job system's own reasons translated, others as they are."""
    return str(REASON_LABELS.get(reason, reason))


FIELD_LABELS = {
    "queue": gettext_lazy("queue"),
    "actor": gettext_lazy("actor"),
    "exception": gettext_lazy("exception"),
}


@register.filter
def field_label(name: str) -> str:
    """The name of a filter field (queue, actor, exception) in the page's language."""
    return str(FIELD_LABELS.get(name, name))


@register.filter
def state_label(state: str) -> str:
    """A state or outcome as shown to a person; one this module does not know, as it is."""
    return str(STATE_LABELS.get(state, state))


@register.filter
def as_json(value: Any) -> str:
    return pretty(value)


@register.filter
def masked(text: str) -> str:
    """Free text (a traceback, an error line) with secrets masked (dramaturg.masking.mask_text)."""
    return mask_text(str(text or ""))


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
        return gettext("%(n)s s") % {"n": f"{seconds:.0f}"}
    if seconds < 5400:
        return gettext("%(n)s min") % {"n": f"{seconds / 60:.0f}"}
    if seconds < 172_800:
        return gettext("%(n)s h") % {"n": f"{seconds / 3600:.1f}"}
    return gettext("%(n)s d") % {"n": f"{seconds / 86_400:.0f}"}


@register.filter
def duration_ms(value: float | None) -> str:
    return duration_label(value)


@register.simple_tag
def time_zone_name() -> str:
    """The time zone the pages show times in (TIME_ZONE)."""
    return timezone.get_current_timezone_name()
