"""The one action flow of the dead-letter and retry pages: check the form, confirm, then perform."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from dramaturg import conf

from .. import actions, actors
from ..models import AuditEntry
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
    if scope == "matching" and action in ONE_BY_ONE:
        messages.error(request, gettext("Unknown action."))
        return redirect(next_url)
    if scope != "matching" and not refs:
        messages.warning(request, gettext("Select at least one message first."))
        return redirect(next_url)
    return ActionForm(action, scope, refs, next_url)


# action -> (the form's URL name, whether it loses something: a red button)
_ACTIONS = {
    "requeue": ("dramaturg:dead_action", False),
    "delete": ("dramaturg:dead_action", True),
    "retry_now": ("dramaturg:retry_action", False),
    "kill": ("dramaturg:retry_action", True),
    "delete_delayed": ("dramaturg:retry_action", True),
    "delete_ready": ("dramaturg:ready_action", True),
}
ONE_BY_ONE = ("delete_delayed", "delete_ready")  # no "all matching" scope


def _delete_texts(action: str, total: int) -> dict[str, str | SafeString]:
    counter = {"counter": total}
    if action == "delete_ready":
        title = ngettext("Delete %(counter)s ready message?", "Delete %(counter)s ready messages?", total) % counter
    else:
        title = ngettext("Delete %(counter)s delayed message?", "Delete %(counter)s delayed messages?", total) % counter
    return {
        "title": title,
        "covers": ngettext("The %(counter)s selected message.", "The %(counter)s selected messages.", total) % counter,
        "effect": gettext("No worker will run it. This cannot be undone."),
        "confirm_label": gettext("Yes, delete"),
    }


def _confirm_texts(action: str, scope: str, total: int, filter: Any) -> dict[str, str | SafeString]:
    """The confirmation page's heading, what it covers and does, and its button, for one action."""
    if action in ONE_BY_ONE:
        return _delete_texts(action, total)
    counter = {"counter": total}
    selected = ngettext("The %(counter)s selected message.", "The %(counter)s selected messages.", total) % counter
    anything = gettext("any")
    queue, actor, exception = (getattr(filter, f) or anything for f in ("queue", "actor", "exception"))
    if action in ("requeue", "delete"):
        title = (
            ngettext("Requeue %(counter)s message?", "Requeue %(counter)s messages?", total)
            if action == "requeue"
            else ngettext("Delete %(counter)s message?", "Delete %(counter)s messages?", total)
        ) % counter
        matching = gettext(
            "All dead letters matching\n  queue <b>%(queue)s</b>, actor <b>%(actor)s</b>,\n"
            "  exception <b>%(exception)s</b>."
        )
        effect = (
            gettext("They go back to the front of their queues with their retry count reset.")
            if action == "requeue"
            else gettext("This cannot be undone.")
        )
        label = gettext("Yes, requeue") if action == "requeue" else gettext("Yes, delete")
    else:
        if scope == "matching":
            title = (
                gettext("Retry now all matching (up to %(total)s)?")
                if action == "retry_now"
                else gettext("Kill all matching (up to %(total)s)?")
            ) % {"total": total}
        else:
            title = (
                ngettext("Retry now %(counter)s message?", "Retry now %(counter)s messages?", total)
                if action == "retry_now"
                else ngettext("Kill %(counter)s message?", "Kill %(counter)s messages?", total)
            ) % counter
        matching = gettext("All waiting retries of queue <b>%(queue)s</b>, actor <b>%(actor)s</b>.")
        effect = (
            gettext("They go to the front of their queues now, their retry count kept.")
            if action == "retry_now"
            else gettext(
                "They go to the dead letters with the reason “killed by an operator” (you can requeue them from there)."
            )
        )
        label = gettext("Yes, retry now") if action == "retry_now" else gettext("Yes, kill")
    if action in ("delete", "kill"):  # an operator's intent is final for what they owed (dramaturg.owed_rows)
        owed = gettext(
            "What they still owed (an email, an alert) is cancelled and never sent; a requeue owes it again."
        )
        effect = f"{effect} {owed}"
    # The translated sentence holds markup (<b>); the operator's filter values are escaped into it.
    values = {"queue": escape(queue), "actor": escape(actor), "exception": escape(exception)}
    covers = mark_safe(matching % values) if scope == "matching" else selected
    return {"title": title, "covers": covers, "effect": effect, "confirm_label": label}


def confirm_then_perform(
    request: HttpRequest,
    form: ActionForm,
    filter: Any,
    total: int,
) -> HttpResponse:
    """A confirmation page first; then the action inline, or as a bulk job with a progress page
    when "all matching" is more than JOBS_BULK_INLINE_MAX messages."""
    as_job = form.scope == "matching" and total > conf.settings.CONSOLE.BULK_INLINE_MAX
    if request.POST.get("confirm") != "yes":
        url_name, danger = _ACTIONS[form.action]
        context = {
            **_confirm_texts(form.action, form.scope, total, filter),
            "action_url": reverse(url_name),
            "danger": danger,
            "action": form.action,
            "scope": form.scope,
            "refs": [str(r) for r in form.refs],
            "filters": filter,
            "total": total,
            "next": form.next_url,
            "as_job": as_job,
        }
        return render(request, "dramaturg/confirm.html", context)
    if as_job:
        job = actors.start_bulk_action(request.user, form.action, filter.as_params(), total)
        return redirect("dramaturg:bulk", job.pk)
    entry = actions.perform(request.user, form.action, form.scope, refs=form.refs, filter=filter)
    (messages.success if entry.count else messages.warning)(request, actions.outcome_text(entry))
    return redirect(form.next_url)


def confirm_then_record(
    request: HttpRequest,
    *,
    op: str,
    texts: dict[str, str],
    danger: bool,
    next_url: str,
    perform: Callable[[], AuditEntry],
    refs: Sequence[str] = (),
) -> HttpResponse:
    """An action on one thing (a queue, a periodic job, a worker) or on the `refs` the form carries (outbox
    emails): its confirmation page first; once confirmed, `perform` does it and records it (dramaturg.actions),
    and the operator is told its outcome."""
    if request.POST.get("confirm") != "yes":
        context = {**texts, "action_url": request.path, "danger": danger, "op": op, "next": next_url, "refs": refs}
        return render(request, "dramaturg/confirm.html", context)
    entry = perform()
    (messages.success if entry.count else messages.warning)(request, actions.outcome_text(entry))
    return redirect(next_url)
