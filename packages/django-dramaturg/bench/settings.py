"""Settings of the package's benchmarks: the host project of its tests (tests/host/settings.py) with a
production's values in place of the tests' own: the package's defaults for the SMTP rate limit (or
EMAIL_RATE_PER_S's), retries and alerts; logs at LOG_LEVEL (WARNING)."""

import os

from host.settings import *  # noqa: F403
from host.settings import DRAMATURG, LOGGING

_rate = os.environ.get("EMAIL_RATE_PER_S")
DRAMATURG = {group: values for group, values in DRAMATURG.items() if group not in ("EMAIL", "RETRIES", "ALERTS")}
DRAMATURG["EMAIL"] = {"QUEUE": "emails", **({"RATE_PER_S": int(_rate)} if _rate else {})}
LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": os.environ.get("LOG_LEVEL", "WARNING")}}
