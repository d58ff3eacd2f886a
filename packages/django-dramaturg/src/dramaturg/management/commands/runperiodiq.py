"""Run the periodiq scheduler with Django set up and the project's time zone."""

from __future__ import annotations

import argparse

import pendulum
import periodiq
from django.conf import settings
from django.core.management.base import BaseCommand
from django_dramatiq.management.commands.rundramatiq import Command as RunDramatiq

from dramaturg.periodic import ResilientScheduler


class Command(BaseCommand):
    help = "Runs the periodiq scheduler for the project's periodic actors."

    def handle(self, **options) -> None:
        # periodiq evaluates cron specs in pendulum's local time zone.
        pendulum.set_local_timezone(pendulum.timezone(settings.TIME_ZONE))
        modules = RunDramatiq().discover_tasks_modules()
        args = argparse.Namespace(
            broker="django_dramatiq.setup", modules=modules, path=["."], verbose=max(0, options["verbosity"] - 1)
        )
        # periodiq.main builds its Scheduler by name: ours retries a send that meets a Redis outage.
        periodiq.Scheduler = ResilientScheduler
        raise SystemExit(periodiq.main(args))
