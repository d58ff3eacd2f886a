"""Views of a host that sends mail the plain Django way (its MAILERS["default"] is the outbox backend)."""

from __future__ import annotations

import json

from django.contrib.auth.forms import PasswordResetForm
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def password_reset(request: HttpRequest) -> HttpResponse:
    """Django's own PasswordResetForm, saved inside the view's transaction."""
    form = PasswordResetForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    with transaction.atomic():
        form.save(request=request)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def notify(request: HttpRequest) -> HttpResponse:
    """send_mail to the address in the JSON body: returns at once, whatever the mail server or Redis."""
    body = json.loads(request.body)
    sent = send_mail(body["subject"], body["text"], "host@example.com", [body["to"]])
    return JsonResponse({"sent": sent})
