from django.core.management.base import BaseCommand, CommandError

from reports.tasks import reconcile


class Command(BaseCommand):
    help = (
        "Restart, as new runs, the reports stuck in `running` (their messages were lost). "
        "The scheduler runs this every few minutes (REPORTS_RECONCILE_CRON)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help="restart runs started more than SECONDS ago (default REPORTS_STUCK_AFTER_S)",
        )

    def handle(self, older_than: float | None, **options) -> None:
        if older_than is not None and older_than < 0:
            raise CommandError("--older-than must be 0 or more seconds")
        restarted = reconcile(older_than)
        for report in restarted:
            self.stdout.write(f"restarted {report} (running since {report.started_at:%Y-%m-%d %H:%M:%S %Z})")
        self.stdout.write(f"{len(restarted)} stuck report(s) restarted.")
