"""The one action flow of the dead-letter and retry pages: check the form, confirm, then perform."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext

from dramaturg import conf

from .. import actions, actors
from ..store import dead_letters
from ..store.dead_letters import DeadLetterRef, InvalidReference
from ._params import MALFORMED, safe_next


@dataclass(frozen=True)
class ActionForm:
    """An action form's POST, checked: e.g. op="requeue:selected" with the selected refs."""

    action: str
    scope: str  # one of actions.SCOPES
    refs: list[DeadLetterRef]
    next_url: str


def parse_action(request: HttpRequest, allowed: Collection[str], default_next: str) -> ActionForm | HttpResponse:
    """The checked form, or (after a message that says what is wrong) the redirect back to `next`."""
    next_url = safe_next(request, default_next)
    action, _, scope = request.POST.get("op", "").partition(":")
    if action not in allowed or scope not in actions.SCOPES:
        messages.error(request, gettext("Unknown action."))
        return redirect(next_url)
    try:
        refs = dead_letters.parse_refs(request.POST.getlist("refs"))
    except InvalidReference:
        messages.error(request, MALFORMED)
        return redirect(next_url)
    if scope != "matching" and not refs:
        messages.warning(request, gettext("Select at least one message first."))
        return redirect(next_url)
    return ActionForm(action, scope, refs, next_url)


def confirm_then_perform(
    request: HttpRequest,
    template: str,
    form: ActionForm,
    filter: Any,
    total: int,
    perform: Callable[..., Any],
) -> HttpResponse:
    """A confirmation page first; then the action inline, or as a bulk job with a progress page
    when "all matching" is more than JOBS_BULK_INLINE_MAX messages."""
    as_job = form.scope == "matching" and total > conf.settings.CONSOLE.BULK_INLINE_MAX
    if request.POST.get("confirm") != "yes":
        context = {
            "action": form.action,
            "scope": form.scope,
            "refs": [str(r) for r in form.refs],
            "filters": filter,
            "total": total,
            "next": form.next_url,
            "as_job": as_job,
        }
        return render(request, template, context)
    if as_job:
        job = actors.start_bulk_action(request.user, form.action, filter.as_params(), total)
        return redirect("dramaturg:bulk", job.pk)
    entry = perform(request.user, form.action, form.scope, refs=form.refs, filter=filter)
    (messages.success if entry.count else messages.warning)(request, actions.outcome_text(entry))
    return redirect(form.next_url)
