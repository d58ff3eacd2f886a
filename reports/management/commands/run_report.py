import time
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from reports.models import Report
from reports.periods import today, week_start
from reports.tasks import request_report


def seconds(value: Any) -> str:
    """A figure in seconds, or "-" when there is none (no email sent that day)."""
    return "-" if value is None else f"{value}s"


class Command(BaseCommand):
    help = "Enqueue one report: run_report daily --date YYYY-MM-DD [--force] [--wait]."

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=Report.Kind.values)
        parser.add_argument(
            "--date",
            type=date.fromisoformat,
            help="the day (weekly: any day of the week); default yesterday / last week",
        )
        parser.add_argument("--force", action="store_true", help="recompute even if it is done or running")
        parser.add_argument("--wait", action="store_true", help="block until it is done and print the summary")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, kind: str, date: date | None, force: bool, wait: bool, timeout: float, **options) -> None:
        if kind == Report.Kind.WEEKLY:
            period = week_start(date or today() - timedelta(days=7))
        else:
            period = date or today() - timedelta(days=1)
        report, started = request_report(kind, period, force=force)
        self.stdout.write(f"{report} {'enqueued' if started else f'already {report.status} (use --force to rerun)'}")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while report.status not in (Report.Status.DONE, Report.Status.FAILED):
            if time.monotonic() > deadline:
                raise CommandError(f"{report} is still {report.status} after {timeout:.0f}s")
            time.sleep(0.5)
            report.refresh_from_db()
        if report.status == Report.Status.FAILED:
            raise CommandError(f"{report} failed: {report.error}")
        r = report.result or {}
        self.stdout.write(
            f"{report}: done in {report.duration_s:.1f}s over {report.chunks_total} chunks\n"
            f"  signups {r['signups']}, emails sent {r['emails']['sent']} / failed {r['emails']['failed']} / "
            f"pending {r['emails']['pending']}\n"
            f"  email delay median {seconds(r['email_delay']['median'])}, p95 {seconds(r['email_delay']['p95'])}, "
            f"max {seconds(r['email_delay']['max'])}\n"
            f"  logins {r['logins']}, active users {r['active_users']}, 7-day retention "
            f"{r['retention']['retained']}/{r['retention']['cohort']}"
        )
