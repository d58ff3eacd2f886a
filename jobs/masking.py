"""What an operator may see of a message: secrets masked, long values cut."""
from __future__ import annotations

import json
import re
from typing import Any

SECRET_KEY_PATTERN = re.compile(r"pass(word)?|token|secret|authori[sz]ation|api[-_]?key|credential|cookie", re.I)
MASK = "********"


def mask_secrets(value: Any) -> Any:
    """A copy of `value` with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if SECRET_KEY_PATTERN.search(str(k)) else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_secrets(v) for v in value]
    return value


def pretty(value: Any) -> str:
    """Masked, indented JSON for a detail page (escaped by the template)."""
    return json.dumps(mask_secrets(value), indent=2, sort_keys=True, default=str)


def preview(args: Any, kwargs: Any, limit: int = 80) -> str:
    """A one-line call preview such as `(42, subject="Hi")`, masked and cut to `limit`."""
    parts = [json.dumps(a, default=str) for a in mask_secrets(list(args or []))]
    parts += [f"{k}={json.dumps(v, default=str)}" for k, v in mask_secrets(dict(kwargs or {})).items()]
    text = "(" + ", ".join(parts) + ")"
    return text if len(text) <= limit else text[: limit - 1] + "…"
