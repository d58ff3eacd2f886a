"""The host's own send-once row: a notice owed to one address (the reference project's EmailDelivery)."""

from __future__ import annotations

from django.db import models
from dramatiq import Message

from dramaturg.models import SendOnceRow


class Notice(SendOnceRow):
    """One email owed to `address`, sent once by `demo.tasks.send_notice`."""

    address = models.EmailField()

    def send_message(self) -> Message:
        from .tasks import send_notice  # the actors import the models

        return send_notice.message(self.pk)
