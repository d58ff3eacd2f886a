"""Messages waiting for a retry: the list, and retry now / kill."""

from __future__ import annotations

import dramatiq
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST, require_safe

from .. import actions
from ..decorators import staff_required
from ..store import delayed, queues
from ..store.filters import MessageFilter
from ._action_flow import confirm_then_perform, parse_action
from ._params import PAGE_SIZE


@require_safe
@staff_required
def retry_list(request: HttpRequest) -> HttpResponse:
    """Messages waiting for a retry (delayed with retries > 0): retry now or kill, one, selected or all."""
    filter = MessageFilter.from_params(request.GET)
    page = delayed.page_retries(filter, cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    actors_ = sorted({a.actor_name for a in dramatiq.get_broker().actors.values()})
    return render(
        request,
        "dramaturg/retries.html",
        {
            "page": page,
            "filters": filter,
            "queue_names": queues.queue_names(),
            "actor_names": actors_,
            "query": urlencode(filter.as_params()),
            "can_manage": request.user.has_perm(actions.QUEUE_PERMISSION),
            "delayed_total": delayed.delayed_total(filter),
        },
    )


@require_POST
@staff_required
@permission_required(actions.QUEUE_PERMISSION, raise_exception=True)
def retry_action(request: HttpRequest) -> HttpResponse:
    """Retry now (run now) / kill one, the selected, or all matching waiting retries, or delete delayed
    messages: a confirmation page first, then the action."""
    form = parse_action(request, actions.DELAYED_ACTIONS, reverse("dramaturg:retries"))
    if isinstance(form, HttpResponse):
        return form
    filter = MessageFilter.from_params(request.POST)
    total = delayed.delayed_total(filter) if form.scope == "matching" else len(form.refs)
    return confirm_then_perform(request, form, filter, total)
