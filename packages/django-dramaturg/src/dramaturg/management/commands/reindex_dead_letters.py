from django.core.management.base import BaseCommand

from dramaturg import conf
from dramaturg.store import dead_letters, stats


class Command(BaseCommand):
    help = (
        "Repair the dead-letter index. By default rebuilds the groups, counts and previews from the "
        "broker's dead-letter sets (O(N)); --prune only drops the entries of letters the broker expired "
        "and forgets workers silent for an hour (cheap; run it periodically, e.g. from cron)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--prune", action="store_true", help="only prune expired entries and gone workers")

    def handle(self, *, prune: bool, **options) -> None:
        if prune:
            pruned = dead_letters.prune_expired(conf.dead_message_ttl_ms())
            forgotten = stats.forget_silent_workers()
            self.stdout.write(
                f"Pruned {pruned} expired index entr{'y' if pruned == 1 else 'ies'}; "
                f"forgot {forgotten} silent worker(s)."
            )
            return
        filed = dead_letters.reindex()
        self.stdout.write(f"Filed {filed} dead letter(s) into {len(dead_letters.dead_groups())} group(s).")
