"""Fixtures the worker tier's console tests share."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client


@pytest.fixture
def staff(clean_redis) -> Client:
    """A superuser's test client, signed in (the console's pages and every action)."""
    User: Any = get_user_model()  # the host's (mypy reads the reference project's)
    user = User.objects.create_user("ops", "ops@example.com", "password", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client
