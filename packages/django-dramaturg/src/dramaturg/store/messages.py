"""Messages as the broker stores them, decoded for display."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dramaturg.masking import one_line

# A dead letter with no recorded exception (e.g. expired by AgeLimit) files under this name.
NO_EXCEPTION = "Rejected"
# A body that is not a Dramatiq message at all files under this name.
UNDECODABLE = "DecodeError"


def exception_type_of(data: dict[str, Any]) -> str:
    """The exception type a dead letter died of: recorded in its options, else read
    from the last line of its traceback, else NO_EXCEPTION."""
    options = data.get("options") or {}
    if options.get("exception_type"):
        return str(options["exception_type"])
    last_line = str(options.get("traceback") or "").strip().rsplit("\n", 1)[-1]
    name = last_line.split(":", 1)[0].rsplit(".", 1)[-1].strip()
    return name if name.isidentifier() else NO_EXCEPTION


def last_error_of(data: dict[str, Any]) -> str:
    """Why a message last failed, as one masked line: its dead-letter reason, else the last line of
    the traceback Dramatiq keeps with a message it retries (`ValueError: ...`); '' if it never failed."""
    options = data.get("options") or {}
    reason = str(options.get("dead_letter_reason") or "")
    if not reason:
        lines = [line for line in str(options.get("traceback") or "").splitlines() if line.strip()]
        reason = lines[-1] if lines else ""
    return one_line(reason)


def decode(raw: bytes | str | None) -> dict[str, Any] | None:
    """A stored body as a dict; a body that is not a JSON object keeps its first 2,000 characters
    under 'undecodable'. None for a missing body."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return {
            "actor_name": "",
            "args": [],
            "kwargs": {},
            "options": {},
            "undecodable": (raw.decode(errors="replace") if isinstance(raw, bytes) else raw)[:2000],
        }
    return data if isinstance(data, dict) else {"actor_name": "", "options": {}, "undecodable": str(data)[:2000]}


@dataclass(frozen=True)
class StoredMessage:
    """A message as the broker stores it: `data` is the decoded JSON body."""

    redis_id: str
    queue_name: str
    data: dict[str, Any] = field(repr=False)
    dead_at_ms: int | None = None
    size: int = 0  # bytes of the stored body, when known

    @property
    def message_id(self) -> str:
        return self.data.get("message_id", "")

    @property
    def actor_name(self) -> str:
        return self.data.get("actor_name", "")

    @property
    def args(self) -> list:
        return self.data.get("args") or []

    @property
    def kwargs(self) -> dict:
        return self.data.get("kwargs") or {}

    @property
    def options(self) -> dict[str, Any]:
        return self.data.get("options") or {}

    @property
    def enqueued_at_ms(self) -> int | None:
        return self.data.get("message_timestamp")

    @property
    def retries(self) -> int:
        return self.options.get("retries", 0)

    @property
    def eta_ms(self) -> int | None:
        return self.options.get("eta")

    @property
    def traceback(self) -> str:
        return self.options.get("traceback", "")

    @property
    def reason(self) -> str:
        return self.options.get("dead_letter_reason", "")

    @property
    def last_error(self) -> str:
        """See `last_error_of`."""
        return last_error_of(self.data)

    @property
    def exception_type(self) -> str:
        return exception_type_of(self.data)

    @property
    def ref(self) -> str:
        """Identifies a dead letter in forms and URLs: '<queue>/<redis id>'."""
        return f"{self.queue_name}/{self.redis_id}"
