"""The dead letters: list, one letter, its download, and the requeue/delete action."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from .. import actions
from ..decorators import staff_required
from ..masking import mask_secrets, pretty
from ..store import dead_letters
from ..store.dead_letters import DeadLetterRef, InvalidReference
from ..store.filters import MessageFilter
from ..store.messages import StoredMessage
from ._action_flow import confirm_then_perform, parse_action
from ._params import MALFORMED, PAGE_SIZE

DETAIL_CHARS = 20_000  # of each argument block on the detail page; the download has everything


def bounded(text: str, limit: int = DETAIL_CHARS) -> dict[str, Any]:
    """The first `limit` characters of a detail page's text block, and how many were left out."""
    return {"text": text[:limit], "cut": max(len(text) - limit, 0)}


@require_safe
@staff_required
def dead_list(request: HttpRequest) -> HttpResponse:
    """The dead letters: filter, look-up by message id, keyset pages, and the forms of the action flow.
    Mounted twice: at /jobs/dead/ and as the admin's "Failed messages" changelist (in the admin's page)."""
    filter = MessageFilter.from_params(request.GET)
    newer = request.GET.get("newer")
    listing = dead_letters.listing(
        filter, cursor=newer or request.GET.get("older"), direction="newer" if newer else "older", limit=PAGE_SIZE
    )
    page = listing.page
    lookup = request.GET.get("id", "").strip()
    if lookup:
        found = dead_letters.find_dead(lookup, [filter.queue] if filter.queue else listing.queue_names)
        page = dead_letters.DeadPage(found, None, None, len(found))
    return render(
        request,
        "dramaturg/dead_list.html",
        {
            "listing": listing,
            "page": page,
            "filters": filter,
            "lookup": lookup,
            "query": urlencode(filter.as_params()),
            "can_manage": request.user.has_perm(actions.PERMISSION),
            **_admin_page(request),
        },
    )


def _admin_page(request: HttpRequest) -> dict[str, Any]:
    """Served as the admin's "Failed messages": the admin's page around the list (its header, user links,
    breadcrumbs and styles); at /jobs/dead/, nothing (the console's page)."""
    if request.resolver_match is None or request.resolver_match.namespace != "admin":
        return {}
    from django.contrib import admin  # the admin that mounts this view

    return {**admin.site.each_context(request), "base_template": "dramaturg/admin_page.html"}


def _dead_letter(request: HttpRequest, queue: str, redis_id: str) -> tuple[DeadLetterRef | None, StoredMessage | None]:
    """The reference and the letter behind it (None once it left the set); a malformed reference
    is said as a message and gives (None, None)."""
    try:
        ref = DeadLetterRef.of(queue, redis_id)
    except InvalidReference:
        messages.error(request, MALFORMED)
        return None, None
    return ref, dead_letters.get_dead(ref)


@require_safe
@staff_required
def dead_detail(request: HttpRequest, queue: str, redis_id: str) -> HttpResponse:
    """One dead letter: reason, traceback, options, and a bounded view of its arguments."""
    ref, message = _dead_letter(request, queue, redis_id)
    if message is None:
        if ref:
            messages.info(
                request,
                gettext("That message is no longer in the dead-letter set: it was requeued, deleted or expired."),
            )
        return redirect("dramaturg:dead_list")
    return render(
        request,
        "dramaturg/dead_detail.html",
        {
            "message": message,
            "ref": ref,
            "can_manage": request.user.has_perm(actions.PERMISSION),
            "args": bounded(pretty(message.args)),
            "kwargs": bounded(pretty(message.kwargs)) if message.kwargs else None,
        },
    )


@require_safe
@staff_required
def dead_download(request: HttpRequest, queue: str, redis_id: str) -> HttpResponse:
    """The whole dead letter as JSON, secrets masked (an attachment, never rendered as a page)."""
    _, message = _dead_letter(request, queue, redis_id)
    if message is None:
        return redirect("dramaturg:dead_list")
    response = HttpResponse(
        json.dumps(mask_secrets(message.data), indent=1, default=str), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="dead-letter-{message.redis_id}.json"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@staff_required
@permission_required(actions.PERMISSION, raise_exception=True)
def dead_action(request: HttpRequest) -> HttpResponse:
    """Requeue/delete one, the selected, or all matching: a confirmation page first, then the action.
    The one action flow of the dashboard and the admin changelist."""
    form = parse_action(request, actions.DEAD_ACTIONS, reverse("dramaturg:dead_list"))
    if isinstance(form, HttpResponse):
        return form
    filter = MessageFilter.from_params(request.POST)
    total = dead_letters.page_dead(filter, limit=1).total if form.scope == "matching" else len(form.refs)
    return confirm_then_perform(request, form, filter, total)
