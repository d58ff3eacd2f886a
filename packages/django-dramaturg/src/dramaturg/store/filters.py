"""Which messages a console page, a bulk action or the audit log covers: one filter for dead
letters and waiting retries (retries have no exception yet, so they ignore that field)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dramatiq.common import q_name

if TYPE_CHECKING:
    from .dead_letters import DeadGroup
    from .messages import StoredMessage


@dataclass(frozen=True)
class MessageFilter:
    """Empty fields match anything."""

    queue: str = ""
    actor: str = ""
    exception: str = ""

    FIELDS = ("queue", "actor", "exception")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> MessageFilter:
        """From query or form parameters (missing and blank mean 'any'; a queue is named as consumed)."""
        values = {name: str(params.get(name) or "").strip() for name in cls.FIELDS}
        if values["queue"]:
            values["queue"] = q_name(values["queue"])
        return cls(**values)

    def as_params(self) -> dict[str, str]:
        """The non-empty fields, for query strings and the audit log."""
        return {name: value for name in self.FIELDS if (value := getattr(self, name))}

    @property
    def by_group(self) -> bool:
        """True when a dead-letter filter needs the group index (actor or exception set)."""
        return bool(self.actor or self.exception)

    def matches(self, group: DeadGroup) -> bool:
        """Whether a (queue, actor, exception) group of dead letters is covered."""
        return (
            (not self.queue or group.queue_name == self.queue)
            and (not self.actor or group.actor_name == self.actor)
            and (not self.exception or group.exception_type == self.exception)
        )

    def matches_retry(self, message: StoredMessage) -> bool:
        """Whether a delayed message is a waiting retry covered by the filter (its queue is the caller's)."""
        return message.retries > 0 and (not self.actor or message.actor_name == self.actor)


EVERYTHING = MessageFilter()  # matches every message: the default of the store functions
