from django.core.management.base import BaseCommand

from reports.tasks import catch_up


class Command(BaseCommand):
    help = "Start the daily (and weekly) reports missed while the scheduler was down, or that failed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=14, help="how many days back to look (default 14)")

    def handle(self, days: int, **options) -> None:
        started = catch_up(days)
        for report in started:
            self.stdout.write(f"enqueued {report}")
        self.stdout.write(f"{len(started)} report(s) enqueued; the others are done or running.")
