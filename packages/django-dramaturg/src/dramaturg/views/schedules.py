"""The periodic schedules and their last runs."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from .. import periodic
from ..decorators import staff_required
from ..store import stats


@require_safe
@staff_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dramaturg/schedules.html",
        {
            "schedules": periodic.schedules(stats.periodic_runs()),
            "time_zone": settings.TIME_ZONE,
        },
    )
