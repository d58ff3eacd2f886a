"""Throttles per client address, across all web processes (Redis), failing open: signup and password reset;
and the client address and account name the sign-in throttle (django-axes, in the database) counts under."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from jobs import limits

from .models import normalize_email


def _address(value: str) -> str | None:
    """A normalised client address, or None if `value` is not one. IPv6 clients are
    grouped by /64: one host usually holds a whole /64, so single addresses are free to it."""
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def client_address(request: HttpRequest) -> str:
    """The client's address, trusting exactly TRUSTED_PROXY_COUNT proxies.

    0: REMOTE_ADDR. N: the Nth entry from the right of X-Forwarded-For, the one
    the outermost trusted proxy appended (entries further left are whatever the
    client sent). A header with fewer entries or a malformed one falls back to
    REMOTE_ADDR: at worst clients share the proxy's bucket, never escape it.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if len(forwarded) >= proxies:
            address = _address(forwarded[-proxies])
            if address:
                return address
    return _address(request.META.get("REMOTE_ADDR", "")) or "unknown"


def check_signup(request: HttpRequest) -> limits.Verdict:
    """Count one signup attempt from this client: SIGNUP_RATE_PER_MINUTE in any 60 seconds."""
    return limits.sliding_window(f"signup:{client_address(request)}", settings.SIGNUP_RATE_PER_MINUTE, window_s=60)


def check_password_reset(request: HttpRequest) -> limits.Verdict:
    """Count one password reset request from this client: PASSWORD_RESET_RATE_PER_MINUTE in any 60 seconds."""
    return limits.sliding_window(
        f"password-reset:{client_address(request)}", settings.PASSWORD_RESET_RATE_PER_MINUTE, window_s=60
    )


# --- django-axes (the sign-in throttle) calls these, named in settings (AXES_*_CALLABLE) -----------------


def login_client_address(request: HttpRequest) -> str | None:
    """The client address axes counts failed sign-ins under: `client_address`, as a plain IP for its
    ip_address column (an IPv6 client's /64 as the network's first address); None if there is none."""
    address = client_address(request)
    return None if address == "unknown" else address.split("/")[0]


def login_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account a sign-in names, normalised as stored, so that "Ann@X.org" counts against "ann@x.org"."""
    if credentials is not None and "username" in credentials:
        username = credentials["username"]
    else:
        username = request.POST.get("username")
    return normalize_email(username) if isinstance(username, str) else None
