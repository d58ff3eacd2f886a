"""Internal: the code version a process runs: `DRAMATURG["CODE_VERSION"]`, else "unknown"."""

from __future__ import annotations

from functools import cache

from dramaturg import conf


@cache
def code_version() -> str:
    """Read once per process (a worker records it at boot: the dashboard's deploy markers)."""
    return str(conf.settings.CODE_VERSION)[:100] or "unknown"
