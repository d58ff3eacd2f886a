"""tests.settings plus bench.in_request: the welcome email is sent inside the signup request
(for bench/run.py's signup comparison only)."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.in_request"]
