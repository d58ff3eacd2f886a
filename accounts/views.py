"""Signup by HTML form and by JSON API.

Both answer the same whether or not the address is registered (see accounts.signup).
Every answer of the API is JSON; errors have one shape:
    {"errors": {"<field>" or "__all__": ["<message>", ...]}}
"""
from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt

from . import throttle
from .forms import ApiSignupForm, SignupForm
from .signup import sign_up

THROTTLED = "Too many signups from your address. Please try again in a minute."
ACCEPTED = "Thanks. Check your email: a message is on its way to this address."
API_FIELDS = ("email", "password")
# Deeper bodies are refused whatever the interpreter's own recursion limit lets its decoder parse.
MAX_JSON_DEPTH = 100


def _throttled_seconds(request: HttpRequest) -> int:
    """0 if this signup attempt may proceed, else seconds until it may (Retry-After)."""
    verdict = throttle.check_signup(request)
    return 0 if verdict.allowed else verdict.retry_after_s


def signup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "accounts/signup.html", {"form": SignupForm()})
    retry_after = _throttled_seconds(request)
    if retry_after:
        form = SignupForm(initial={"email": request.POST.get("email", "")})  # not validated: it was not tried
        response = render(request, "accounts/signup.html", {"form": form, "throttled": THROTTLED}, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    form = SignupForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/signup.html", {"form": form}, status=400)
    sign_up(form.cleaned_data["email"], form.cleaned_data["password1"])
    return redirect("accounts:signup_done")


def signup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/signup_done.html")


def _error(status: int, errors: dict[str, list[str]], headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status, headers=headers)


def _read_json(request: HttpRequest) -> Any:
    """The decoded JSON body, or a JsonResponse saying what is wrong with it."""
    if request.content_type != "application/json":
        return _error(415, {"__all__": ["The request body must be JSON (Content-Type: application/json)."]})
    limit = settings.SIGNUP_API_MAX_BODY_BYTES
    too_big = _error(413, {"__all__": [f"The request body must be at most {limit} bytes."]})
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return too_big  # unread; the server discards the rest
    body = request.read(limit + 1)
    if len(body) > limit:
        return too_big
    too_deep = _error(400, {"__all__": ["The request body is nested too deeply."]})
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _error(400, {"__all__": ["The request body must be valid UTF-8 JSON."]})
    except RecursionError:  # the decoder recurses once per level of nesting
        return too_deep
    return too_deep if _deeper_than(data, MAX_JSON_DEPTH) else data


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (iteratively: no recursion limit)."""
    level = [value]
    for _ in range(limit):
        level = [child for item in level if isinstance(item, (list, dict))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return any(isinstance(item, (list, dict)) for item in level)


@csrf_exempt  # A JSON API for non-browser clients; it uses no cookie-based authentication.
def api_signup(request: HttpRequest) -> JsonResponse:
    """POST {"email": ..., "password": ...} -> 202 {"email", "detail"}, the same whether or not the
    address is registered; 400/405/413/415/429 {"errors": {field or "__all__": [messages]}}."""
    if request.method != "POST":
        return _error(405, {"__all__": [f"Method {request.method} is not allowed; use POST."]}, {"Allow": "POST"})
    retry_after = _throttled_seconds(request)
    if retry_after:
        return _error(429, {"__all__": [THROTTLED]}, {"Retry-After": str(retry_after)})
    payload = _read_json(request)
    if isinstance(payload, JsonResponse):
        return payload
    if not isinstance(payload, dict):
        return _error(400, {"__all__": ["The request body must be a JSON object."]})
    # A value of the wrong type is that field's error, not text to validate.
    type_errors = {name: ["Must be a string."] for name in API_FIELDS
                   if payload.get(name) is not None and not isinstance(payload[name], str)}
    form = ApiSignupForm({name: payload[name] for name in API_FIELDS if isinstance(payload.get(name), str)})
    if not form.is_valid() or type_errors:
        errors = {name: [e["message"] for e in field_errors]
                  for name, field_errors in form.errors.get_json_data().items() if name not in type_errors}
        return _error(400, {**errors, **type_errors})
    sign_up(form.cleaned_data["email"], form.cleaned_data["password"])
    return JsonResponse({"email": form.cleaned_data["email"], "detail": ACCEPTED}, status=202)
