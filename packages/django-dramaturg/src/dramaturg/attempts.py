"""Where the message a worker is running stands among its attempts."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import CurrentMessage


def is_last_attempt() -> bool:
    """Whether the current message has no retry left (True outside a worker): its failure is final."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return True
    actor = dramatiq.get_broker().get_actor(message.actor_name)
    max_retries = message.options.get("max_retries", actor.options["max_retries"])
    return bool(message.options.get("retries", 0) >= max_retries)
