from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from revenue import sync
from revenue.models import StripeConnection


class Command(BaseCommand):
    help = "Sync Stripe now, in the foreground: every connected site, or one. One summary line per site."

    def add_arguments(self, parser):
        parser.add_argument("--site", help="SITE_ID of one site")
        parser.add_argument(
            "--backfill-days", type=int, help="Days of history for a first import (default 90)"
        )

    def handle(self, *args, site, backfill_days, **options):
        if backfill_days is not None and not 1 <= backfill_days <= 3650:
            raise CommandError("--backfill-days must be between 1 and 3650")
        try:
            connections = StripeConnection.objects.select_related("site").order_by("pk")
            if site:
                connections = connections.filter(site__public_id=site)
                if not connections.exists():
                    raise CommandError(
                        f"No Stripe connection for site {site!r} (connect it in Settings → Revenue)."
                    )
            connections = list(connections)
        except DatabaseError as exc:
            raise CommandError(f"Cannot read the database: {exc}") from None
        if not connections:
            self.stdout.write("No site has Stripe connected; nothing to sync.")
            return
        for connection in connections:
            if backfill_days is not None and connection.backfill_completed_at is None:
                connection.set_backfill_days(backfill_days)
            run = sync.sync_connection(connection.pk)
            self.stdout.write(f"{connection.site.public_id} {sync.describe(run)}")
