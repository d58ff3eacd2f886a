from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from jobs import limits

from .forms import SignupForm


def _create_user(form: SignupForm):
    # The welcome email is enqueued by the post_save signal once this commits.
    with transaction.atomic():
        return form.save()


THROTTLED = "Too many signups from your address. Please try again in a minute."


def _throttled(request: HttpRequest) -> bool:
    """Per client address, across all web processes (Redis); fails open if Redis is down."""
    address = request.META.get("REMOTE_ADDR", "unknown")
    return not limits.allow(f"signup:{address}", settings.SIGNUP_RATE_PER_MINUTE, window_s=60)


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and _throttled(request):
        form.add_error(None, THROTTLED)
        return render(request, "accounts/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        _create_user(form)
        return redirect("accounts:signup_done")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


def signup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/signup_done.html")


def _json_errors(errors: dict, status: int = 400) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


@csrf_exempt  # A JSON API for non-browser clients; it uses no cookie-based authentication.
@require_POST
def api_signup(request: HttpRequest) -> JsonResponse:
    """POST {"email": ..., "password": ...} -> 201 {"id": ...}, 400 {"errors": {field: [...]}} or 429."""
    if _throttled(request):
        response = _json_errors({"__all__": [THROTTLED]}, status=429)
        response["Retry-After"] = "60"
        return response
    try:
        payload = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return _json_errors({"__all__": ["The request body must be valid JSON."]})
    if not isinstance(payload, dict):
        return _json_errors({"__all__": ["The request body must be a JSON object."]})
    password = payload.get("password")
    form = SignupForm(
        {"email": payload.get("email") or "", "password1": password or "", "password2": password or ""}
    )
    if not form.is_valid():
        errors = {}
        for field, messages in form.errors.items():
            errors.setdefault("password" if field.startswith("password") else field, []).extend(messages)
        return _json_errors(errors)
    user = _create_user(form)
    return JsonResponse({"id": user.pk, "email": user.email}, status=201)
