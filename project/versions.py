"""The reference project's code version for `DRAMATURG["CODE_VERSION"]`: `git describe --always` of the checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_describe(base_dir: Path) -> str:
    """`git describe --always` in `base_dir`, or "" when git or the repository is not there."""
    try:
        return subprocess.run(
            ["git", "describe", "--always"], cwd=base_dir, timeout=2, capture_output=True, text=True, check=True
        ).stdout.strip()[:100]
    except (OSError, subprocess.SubprocessError):
        return ""
