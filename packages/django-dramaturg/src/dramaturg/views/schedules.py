"""The periodic schedules and their last runs; run now, disable and enable (confirmed and audited)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from .. import actions, periodic
from ..decorators import staff_required
from ..models import AuditEntry
from ..store import control, stats
from ._action_flow import confirm_then_record
from ._params import safe_next


@require_safe
@staff_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dramaturg/schedules.html",
        {
            "schedules": periodic.schedules(stats.periodic_runs(), control.disabled_periodic()),
            "time_zone": settings.TIME_ZONE,
            "can_manage": request.user.has_perm(actions.QUEUE_PERMISSION),
        },
    )


def _texts(op: str, actor: str) -> dict[str, str]:
    values = {"actor": actor}
    if op == AuditEntry.Action.RUN_PERIODIC:
        return {
            "title": gettext("Run %(actor)s now?") % values,
            "covers": gettext("One run of the periodic job, outside its schedule."),
            "effect": gettext("Its message goes to the back of its queue now; the schedule is unchanged."),
            "confirm_label": gettext("Yes, run now"),
        }
    if op == AuditEntry.Action.DISABLE_PERIODIC:
        return {
            "title": gettext("Disable %(actor)s?") % values,
            "covers": gettext(
                "Every scheduled run, until it is enabled again (also after a restart of the scheduler)."
            ),
            "effect": gettext("The scheduler skips its runs; you can still run it now by hand."),
            "confirm_label": gettext("Yes, disable"),
        }
    return {
        "title": gettext("Enable %(actor)s?") % values,
        "covers": gettext("Its scheduled runs, from the next one."),
        "effect": gettext("The scheduler sends it again at its times."),
        "confirm_label": gettext("Yes, enable"),
    }


@require_POST
@staff_required
@permission_required(actions.QUEUE_PERMISSION, raise_exception=True)
def schedule_action(request: HttpRequest, actor: str) -> HttpResponse:
    """Run a periodic job now, or disable or enable it: a confirmation page first, then the action."""
    op = request.POST.get("op", "")
    next_url = safe_next(request, reverse("dramaturg:schedules"))
    if op not in actions.PERIODIC_ACTIONS or actor not in {a.actor_name for a in periodic.periodic_actors()}:
        messages.error(request, gettext("Unknown periodic job or action."))
        return redirect(next_url)
    return confirm_then_record(
        request,
        op=op,
        texts=_texts(op, actor),
        danger=op == AuditEntry.Action.DISABLE_PERIODIC,
        next_url=next_url,
        perform=lambda: actions.periodic_action(request.user, op, actor),
    )
