from django.core.management.base import BaseCommand

from jobs import broker_store


class Command(BaseCommand):
    help = "Rebuild the dead-letter groups and counts from the broker's dead-letter sets (a repair tool, O(N))."

    def handle(self, **options) -> None:
        filed = broker_store.reindex_dead_letters()
        self.stdout.write(f"Filed {filed} dead letter(s) into {len(broker_store.dead_groups())} group(s).")
