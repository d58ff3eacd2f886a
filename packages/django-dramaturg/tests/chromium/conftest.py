"""Fixtures the console's browser tests share."""

from __future__ import annotations

import pytest

from accounts.models import User

PASSWORD = "ops-password-123"


@pytest.fixture
def staff(live, monkeypatch) -> User:
    """A superuser signed in by the browser tests (with PASSWORD), made without a welcome email of its own."""
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = User(email="ops@example.com", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    User.objects.bulk_create([user])
    return user
