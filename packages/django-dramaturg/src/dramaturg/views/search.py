"""Search messages by arguments, error text and time range across ready, delayed, retrying, dead and
finished (dramaturg.store.search): a GET form with field errors, results linking to each message's page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import dramatiq
from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from dramaturg import conf

from ..decorators import staff_required
from ..store import lookup, queues, search, stats
from ..templatetags.dramaturg_tags import STATE_LABELS

RESULTS = 200
TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]


class SearchForm(forms.Form):
    """The search's fields; times are read in the current time zone (TIME_ZONE)."""

    args = forms.CharField(label=gettext_lazy("Arguments contain"), required=False, max_length=200)
    error = forms.CharField(label=gettext_lazy("Error contains"), required=False, max_length=200)
    since = forms.DateTimeField(label=gettext_lazy("From"), required=False, input_formats=TIME_FORMATS)
    until = forms.DateTimeField(label=gettext_lazy("Until"), required=False, input_formats=TIME_FORMATS)
    state = forms.MultipleChoiceField(
        label=gettext_lazy("States"),
        required=False,
        choices=[(s, STATE_LABELS[s]) for s in search.STATES],
        widget=forms.CheckboxSelectMultiple,
    )
    queue = forms.ChoiceField(label=gettext_lazy("Queue"), required=False)
    actor = forms.ChoiceField(label=gettext_lazy("Actor"), required=False)

    def __init__(self, *args: Any, queue_names: list[str], actor_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        any_ = ("", gettext_lazy("any"))
        cast(forms.ChoiceField, self.fields["queue"]).choices = [any_, *((q, q) for q in queue_names)]
        cast(forms.ChoiceField, self.fields["actor"]).choices = [any_, *((a, a) for a in actor_names)]
        for name in ("since", "until"):
            self.fields[name].widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", gettext_lazy("“Until” is before “From”."))
        return data

    def query(self) -> search.SearchQuery:
        data = self.cleaned_data
        return search.SearchQuery(
            args=data["args"].strip(),
            error=data["error"].strip(),
            since_ms=_ms(data["since"]),
            until_ms=_ms(data["until"], end_of_minute=True),
            states=tuple(data["state"]) or search.STATES,
            queue=data["queue"],
            actor=data["actor"],
        )


def _ms(value: datetime | None, *, end_of_minute: bool = False) -> int | None:
    if value is None:
        return None
    return int(value.timestamp() * 1000) + (59_999 if end_of_minute else 0)


@require_safe
@staff_required
def message_search(request: HttpRequest) -> HttpResponse:
    """The search form and, once asked, the messages that match (newest first)."""
    names = queues.queue_names()
    form = SearchForm(
        request.GET or None,
        queue_names=names,
        actor_names=sorted({a.actor_name for a in dramatiq.get_broker().actors.values()}),
    )
    result = None
    if form.is_bound and form.is_valid():
        running = lookup.running_message_ids(w.worker_id for w in stats.workers(conf.heartbeat_timeout_ms()) if w.alive)
        result = search.search(form.query(), names, running=running, limit=RESULTS)
    return render(request, "dramaturg/search.html", {"form": form, "result": result, "results_max": RESULTS})
