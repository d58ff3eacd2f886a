"""The host's own send-once row: a notice owed to one address (the reference project's EmailDelivery)."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from dramatiq import Message

from dramaturg.models import SendOnceRow


class Notice(SendOnceRow):
    """One email owed to `address`, sent once by `demo.tasks.send_notice`."""

    address = models.EmailField()
    # Declared for type checkers: the project's settings (which mypy's Django plugin loads) omit the host's app.
    objects: ClassVar[models.Manager[Notice]]
    send_actors = ("send_notice",)

    def send_message(self) -> Message:
        from .tasks import send_notice  # the actors import the models

        return send_notice.message(self.pk)
