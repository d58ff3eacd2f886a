"""tests.settings with tests.broken_urls: a web process with views that fail."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.broken_urls"
