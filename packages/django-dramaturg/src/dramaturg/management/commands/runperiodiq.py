"""Run the periodiq scheduler with Django set up and the project's time zone."""

from __future__ import annotations

import logging

import dramatiq
from django.core.management.base import BaseCommand
from django_dramatiq.management.commands.rundramatiq import Command as RunDramatiq

from dramaturg import periodic


class Command(BaseCommand):
    help = "Runs the periodiq scheduler for the project's periodic actors."

    def handle(self, **options) -> None:
        logging.getLogger().setLevel(logging.INFO if options["verbosity"] <= 1 else logging.DEBUG)  # as periodiq's -v
        raise SystemExit(periodic.run(dramatiq.get_broker(), RunDramatiq().discover_tasks_modules()))
