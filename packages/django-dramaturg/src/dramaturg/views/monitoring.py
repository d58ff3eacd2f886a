"""For machines: Prometheus metrics and the health checks (machine-read: nothing here is translated)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from .. import health, monitoring, prometheus
from ..decorators import token_or_staff


@require_safe
@token_or_staff()
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, cluster-wide (dramaturg.prometheus)."""
    return HttpResponse(prometheus.render(monitoring.snapshot()), content_type=prometheus.CONTENT_TYPE)


@require_safe
@token_or_staff()
def health_json(request: HttpRequest) -> JsonResponse:
    """The health checks as JSON: 200 when healthy, 503 with the problems otherwise."""
    report = health.run_checks()
    return JsonResponse(report.as_json(), status=200 if report.healthy else 503)
