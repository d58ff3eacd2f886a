import json
import sys

import redis
from django.core.management.base import BaseCommand

from dramaturg import health


class Command(BaseCommand):
    help = (
        "Check the job system's health (thresholds: DRAMATURG['HEALTH']). Prints one line per "
        "problem and exits 1 if there is any, 2 if Redis is unreachable, 0 when healthy: for cron and probes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the report as JSON (as /jobs/health)"
        )

    def handle(self, *, as_json: bool, **options) -> None:
        try:
            report = health.run_checks()
        except redis.RedisError as error:
            self.stdout.write(f"redis: unreachable: {error}")
            sys.exit(2)
        if as_json:
            self.stdout.write(json.dumps(report.as_json(), indent=1))
        elif report.healthy:
            self.stdout.write(f"OK: {len(report.checks)} checks passed")
        else:
            for problem in report.problems:
                self.stdout.write(problem.line())
        if not report.healthy:
            sys.exit(1)
