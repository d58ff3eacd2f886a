"""Change one `DRAMATURG` key for a test through pytest-django's `settings` fixture (restored after it)."""

from __future__ import annotations

import copy
from typing import Any


def set_dramaturg(settings: Any, group: str, **values: Any) -> None:
    """`settings.DRAMATURG[group].update(values)`, as a new dict so Django's `setting_changed` fires."""
    current = copy.deepcopy(getattr(settings, "DRAMATURG", {}))
    current.setdefault(group, {}).update(values)
    settings.DRAMATURG = current
