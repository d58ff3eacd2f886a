"""Signup by HTML form and by JSON API; signing in and out, the account page, password reset.

Both answer the same whether or not the address is registered (see accounts.signup).
Every answer of the API is JSON; errors have one shape:
    {"errors": {"<field>" or "__all__": ["<message>", ...]}}
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from . import throttle, welcome
from .forms import (
    AccountForm,
    ApiSignupForm,
    LoginForm,
    OutboxPasswordResetForm,
    ResetSetPasswordForm,
    SignupForm,
)
from .models import User
from .signup import sign_up

THROTTLED = gettext_lazy("Too many signups from your address. Please try again in a minute.")
RESET_THROTTLED = gettext_lazy("Too many password reset requests from your address. Please try again in a minute.")
ACCEPTED = gettext_lazy("Thanks. Check your email: a message is on its way to this address.")
API_FIELDS = ("email", "password", "display_name", "language")
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
        response = render(request, "accounts/signup.html", {"form": form, "throttled": str(THROTTLED)}, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    form = SignupForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/signup.html", {"form": form}, status=400)
    sign_up(
        form.cleaned_data["email"],
        form.cleaned_data["password1"],
        display_name=form.cleaned_data["display_name"],
        language=form.cleaned_data["language"],
    )
    return redirect("accounts:signup_done")


def signup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/signup_done.html")


def _error(status: int, errors: dict[str, list[str]], headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status, headers=headers)


def _read_json(request: HttpRequest) -> Any:
    """The decoded JSON body, or a JsonResponse saying what is wrong with it."""
    if request.content_type != "application/json":
        return _error(415, {"__all__": [_("The request body must be JSON (Content-Type: application/json).")]})
    limit = settings.SIGNUP_API_MAX_BODY_BYTES
    too_big = _error(413, {"__all__": [_("The request body must be at most %(limit)d bytes.") % {"limit": limit}]})
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return too_big  # unread; the server discards the rest
    body = request.read(limit + 1)
    if len(body) > limit:
        return too_big
    too_deep = _error(400, {"__all__": [_("The request body is nested too deeply.")]})
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _error(400, {"__all__": [_("The request body must be valid UTF-8 JSON.")]})
    except RecursionError:  # the decoder recurses once per level of nesting
        return too_deep
    return too_deep if _deeper_than(data, MAX_JSON_DEPTH) else data


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (iteratively: no recursion limit)."""
    level = [value]
    for _depth in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, (list, dict))
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return any(isinstance(item, (list, dict)) for item in level)


@csrf_exempt  # A JSON API for non-browser clients; it uses no cookie-based authentication.
def api_signup(request: HttpRequest) -> JsonResponse:
    """POST {"email", "password"[, "display_name", "language"]} -> 202 {"email", "detail"}, the same whether
    or not the address is registered; 400/405/413/415/429 {"errors": {field or "__all__": [messages]}}.

    Messages are in the request's language (Accept-Language: en or ko, through LocaleMiddleware), which
    is also the new user's email language unless the body names one. Described in accounts/openapi.json.
    """
    if request.method != "POST":
        return _error(
            405,
            {"__all__": [_("Method %(method)s is not allowed; use POST.") % {"method": request.method}]},
            {"Allow": "POST"},
        )
    retry_after = _throttled_seconds(request)
    if retry_after:
        return _error(429, {"__all__": [str(THROTTLED)]}, {"Retry-After": str(retry_after)})
    payload = _read_json(request)
    if isinstance(payload, JsonResponse):
        return payload
    if not isinstance(payload, dict):
        return _error(400, {"__all__": [_("The request body must be a JSON object.")]})
    # A value of the wrong type is that field's error, not text to validate.
    type_errors = {
        name: [_("Must be a string.")]
        for name in API_FIELDS
        if payload.get(name) is not None and not isinstance(payload[name], str)
    }
    form = ApiSignupForm({name: payload[name] for name in API_FIELDS if isinstance(payload.get(name), str)})
    if not form.is_valid() or type_errors:
        errors = {
            name: [e["message"] for e in field_errors]
            for name, field_errors in form.errors.get_json_data().items()
            if name not in type_errors
        }
        return _error(400, {**errors, **type_errors})
    data = form.cleaned_data
    sign_up(
        data["email"],
        data["password"],
        display_name=data["display_name"],
        language=data["language"] or (get_language() or settings.LANGUAGE_CODE).split("-")[0],
    )
    return JsonResponse({"email": data["email"], "detail": str(ACCEPTED)}, status=202)


# --- Signing in and out, the account page, password reset ------------------------------------------


class LoginView(auth_views.LoginView):
    """Django's sign-in (the user_logged_in signal records a LoginEvent for the reports); afterwards the
    pages speak the language the user chose for their emails."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        _remember_language(response, _user(form.get_user()).language)
        return response


def locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None) -> HttpResponse:
    """django-axes' answer to a sign-in while the account or the client address is locked out
    (AXES_LOCKOUT_CALLABLE): a page saying so, 429 with Retry-After, the cool-off (at most that long)."""
    cool_off_s = int(get_cool_off(request).total_seconds())
    response = render(
        request, "accounts/login_locked.html", {"minutes": max(1, math.ceil(cool_off_s / 60))}, status=429
    )
    response["Retry-After"] = str(cool_off_s)
    return response


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule: a link cannot sign anyone out)."""

    template_name = "accounts/logged_out.html"


def _user(user: object) -> User:
    """The signed-in user (the views are login_required), typed as the project's model."""
    assert isinstance(user, User)
    return user


def _remember_language(response: HttpResponse, language: str) -> None:
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )


@login_required
@never_cache
def account(request: HttpRequest) -> HttpResponse:
    """The user's account: name and email language, and where their welcome email is."""
    user = _user(request.user)
    form = AccountForm(request.POST if request.method == "POST" else None, instance=user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your account was saved."))
        response = redirect("accounts:account")
        _remember_language(response, form.cleaned_data["language"])
        return response
    return render(
        request,
        "accounts/account.html",
        {"form": form, "welcome": welcome.welcome_email(user)},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def resend_welcome(request: HttpRequest) -> HttpResponse:
    """ "Send again" for a failed welcome email: a new job through the outbox (throttled)."""
    if welcome.send_again(_user(request.user)):
        messages.success(request, _("Your welcome email is on its way again."))
    else:
        messages.error(request, _("The welcome email cannot be sent again right now; please try later."))
    return redirect("accounts:account")


class PasswordResetView(auth_views.PasswordResetView):
    """Throttled per client address (PASSWORD_RESET_RATE_PER_MINUTE); the same work and answer whatever the
    address (OutboxPasswordResetForm: a worker decides whether anyone gets an email)."""

    form_class = OutboxPasswordResetForm
    template_name = "accounts/password_reset.html"
    success_url = reverse_lazy("accounts:password_reset_done")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        verdict = throttle.check_password_reset(request)
        if verdict.allowed:
            return super().post(request, *args, **kwargs)
        form = self.form_class(initial={"email": request.POST.get("email", "")})  # not validated: not tried
        response = self.render_to_response(self.get_context_data(form=form, throttled=str(RESET_THROTTLED)), status=429)
        response["Retry-After"] = str(verdict.retry_after_s)
        return response


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = ResetSetPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


@require_safe
def openapi(request: HttpRequest) -> HttpResponse:
    """The OpenAPI description of the signup API (accounts/openapi.json, checked against real answers in tests)."""
    return HttpResponse(_openapi_document(), content_type="application/json")


@cache
def _openapi_document() -> bytes:
    return (Path(__file__).resolve().parent / "openapi.json").read_bytes()
