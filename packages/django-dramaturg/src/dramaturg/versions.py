"""The code version a process runs: `APP_VERSION`, else `git describe --always`, else "unknown"."""

from __future__ import annotations

import subprocess
from functools import cache

from django.conf import settings


@cache
def code_version() -> str:
    """Read once per process (a worker records it at boot: the dashboard's deploy markers)."""
    if getattr(settings, "APP_VERSION", ""):
        return str(settings.APP_VERSION)[:100]
    try:
        described = subprocess.run(
            ["git", "describe", "--always"],
            cwd=settings.BASE_DIR,
            timeout=2,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return described[:100] or "unknown"
