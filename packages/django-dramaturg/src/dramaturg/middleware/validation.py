"""Arguments that cannot fit their actor: dead-lettered at once, not retried."""

from __future__ import annotations

import inspect

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware, SkipMessage


class ValidateArguments(Middleware):
    """Dead-letter at once a message whose arguments do not fit its actor.

    Calling the actor would raise TypeError on every attempt, so retrying only
    delays the verdict; the message goes to the dead-letter set with the reason.
    """

    def __init__(self) -> None:
        self._signatures: dict[str, inspect.Signature] = {}

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        actor = broker.get_actor(message.actor_name)
        signature = self._signatures.get(actor.actor_name)
        if signature is None:
            signature = self._signatures[actor.actor_name] = inspect.signature(actor.fn)
        try:
            signature.bind(*message.args, **message.kwargs)
        except TypeError as error:
            message.options["dead_letter_reason"] = f"Arguments do not fit {actor.actor_name}{signature}: {error}"
            message.options["exception_type"] = "TypeError"
            message.fail()
            raise SkipMessage(str(error)) from None
