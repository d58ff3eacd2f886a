"""The outbox emails (dramaturg.mail.OutboxEmailBackend) by state, and requeue / cancel with the console's
confirm-then-perform flow and its audit log (dramaturg.actions)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.decorators.http import require_POST, require_safe

from .. import actions
from ..decorators import staff_required
from ..mail import outbox
from ..masking import mask_address, mask_error
from ..models import AuditEntry, OutboxEmail
from ..params import natural
from ._action_flow import confirm_then_record
from ._params import PAGE_SIZE, safe_next

STATE_LABELS = {
    "owed": gettext_lazy("Owed"),
    "retrying": gettext_lazy("Retrying"),
    "sent": gettext_lazy("Sent"),
    "failed": gettext_lazy("Failed"),
    "unknown": gettext_lazy("Outcome unknown"),
    "cancelled": gettext_lazy("Cancelled"),
}
# The form's op -> the audited action and what it does to the rows.
EMAIL_ACTIONS = {
    "requeue": (AuditEntry.Action.SEND_AGAIN, outbox.requeue),
    "kill": (AuditEntry.Action.CANCEL_EMAIL, outbox.cancel),
}


@dataclass(frozen=True)
class EmailRow:
    """One outbox email as the list shows it: recipients masked, never the body."""

    pk: int
    created_at: object
    recipients: str
    subject: str
    status: str
    attempts: int
    sent_at: object
    last_error: str


def _row(email: OutboxEmail) -> EmailRow:
    recipients = ", ".join(mask_address(a) for a in [*email.to, *email.cc, *email.bcc])
    return EmailRow(
        email.pk,
        email.created_at,
        recipients,
        email.subject,
        email.get_status_display(),
        email.attempts,
        email.sent_at,
        mask_error(email.last_error),
    )


def _shown(count: int) -> str:
    """A capped state count as the page shows it: "1000+" above outbox.COUNT_CAP."""
    return f"{outbox.COUNT_CAP}+" if count > outbox.COUNT_CAP else str(count)


@require_safe
@staff_required
def email_list(request: HttpRequest) -> HttpResponse:
    """Outbox emails in one state (owed by default), newest first, PAGE_SIZE at a time (`before` an id)."""
    state = request.GET.get("state", "owed")
    if state not in outbox.STATES:
        state = "owed"
    page = outbox.page(state, natural(request.GET.get("before"), maximum=2**63 - 1), PAGE_SIZE)
    counts = outbox.state_counts()
    return render(
        request,
        "dramaturg/emails.html",
        {
            "state": state,
            "states": [(s, STATE_LABELS[s], _shown(counts[s])) for s in outbox.STATES],
            "emails": [_row(e) for e in page[:PAGE_SIZE]],
            "next_before": page[PAGE_SIZE - 1].pk if len(page) > PAGE_SIZE else None,
            "can_manage": request.user.has_perm(actions.PERMISSION),
        },
    )


@require_POST
@staff_required
@permission_required(actions.PERMISSION, raise_exception=True)
def email_action(request: HttpRequest) -> HttpResponse:
    """Requeue (failed, cancelled, outcome unknown) or cancel (owed, retrying) one or the selected emails:
    a confirmation page first, then the action, recorded in the audit log."""
    next_url = safe_next(request, reverse("dramaturg:emails"))
    op, _, scope = request.POST.get("op", "").partition(":")
    if op not in EMAIL_ACTIONS or scope not in ("one", "selected"):
        messages.error(request, gettext("Unknown action."))
        return redirect(next_url)
    ids = sorted({n for n in (natural(v, maximum=2**63 - 1) for v in request.POST.getlist("refs")) if n})
    if not ids:
        messages.warning(request, gettext("Select at least one email first."))
        return redirect(next_url)
    action, take = EMAIL_ACTIONS[op]
    return confirm_then_record(
        request,
        op=f"{op}:{scope}",
        texts=_texts(op, len(ids)),
        danger=op == "kill",
        next_url=next_url,
        perform=lambda: actions.record(request.user, action, scope, {"emails": "outbox"}, [ids], take),
        refs=[str(pk) for pk in ids],
    )


def _texts(op: str, count: int) -> dict[str, str]:
    counter = {"counter": count}
    if op == "requeue":
        return {
            "title": ngettext("Send %(counter)s email again?", "Send %(counter)s emails again?", count) % counter,
            "covers": "",
            "effect": gettext("Each is owed again, with a new job; a sent email is never sent twice."),
            "confirm_label": gettext("Yes, send again"),
        }
    return {
        "title": ngettext("Cancel %(counter)s email?", "Cancel %(counter)s emails?", count) % counter,
        "covers": "",
        "effect": gettext("A worker that gets its job later sends nothing; you can send it again."),
        "confirm_label": gettext("Yes, cancel"),
    }
