"""The operator's console in a host project that has none of the reference project's templates or URLs:
every page renders in the package's own page layout (templates/dramaturg/page.html), staff only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

PAGES = ["/jobs/", "/jobs/queues/emails/", "/jobs/dead/", "/jobs/retries/", "/jobs/actors/", "/jobs/schedules/"]


@pytest.fixture
def staff(clean_redis) -> Client:
    User: Any = get_user_model()  # the host's, django.contrib.auth's (mypy reads the reference project's)
    user = User.objects.create_user("ops", "ops@example.com", "password", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", PAGES)
def test_every_console_page_renders_in_the_packages_own_layout(staff, url):
    response = staff.get(url, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith("<!doctype html>") and '<html lang="en">' in html
    assert 'href="/jobs/dead/"' in html  # the console's own menu


def test_the_console_is_for_staff_only(clean_redis):
    response = Client().get("/jobs/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
