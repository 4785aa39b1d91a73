import datetime as dt
import zoneinfo

from django.core.management.base import BaseCommand, CommandError
from django.utils.timezone import now as timezone_now

from humblytics.demo.large_site import build_large_site


class Command(BaseCommand):
    help = (
        "Create a large synthetic site (views, sessions, payments, custom events, goals and a funnel) for "
        "benchmarks; prints SITE_ID last."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", required=True, help="Username of the owner (created if missing)")
        parser.add_argument("--domain", default="large.example")
        parser.add_argument("--timezone", default="America/New_York")
        parser.add_argument("--views", type=int, default=1_000_000)
        parser.add_argument("--sessions", type=int, default=350_000)
        parser.add_argument("--payments", type=int, default=20_000)
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--now", default="", help="ISO UTC end time (default: now)")
        parser.add_argument(
            "--events-every", type=int, default=8, help="About one custom event per this many views (0: none)"
        )
        parser.add_argument("--no-goals", action="store_true", help="Define no goals and no funnel")

    def handle(self, *args, owner, domain, timezone: str, views, sessions, payments, days, seed, now, **opts):
        if sessions < 1 or views < sessions or days < 1 or payments < 0 or opts["events_every"] < 0:
            raise CommandError(
                "need sessions >= 1, views >= sessions, days >= 1, payments >= 0, events-every >= 0"
            )
        try:
            tz = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CommandError(f"unknown time zone {timezone!r}") from None
        end = dt.datetime.fromisoformat(now).replace(tzinfo=dt.UTC) if now else timezone_now()
        made = build_large_site(
            owner=owner,
            domain=domain,
            tz=tz,
            end=end,
            views=views,
            sessions=sessions,
            payments=payments,
            days=days,
            seed=seed,
            events_every=opts["events_every"],
            goals=not opts["no_goals"],
        )
        self.stdout.write(
            f"{made.site.public_id}: {made.sessions:,} sessions, {made.views:,} views, "
            f"{made.payments:,} payments, {made.events:,} custom events over {days} days ending "
            f"{end:%Y-%m-%d %H:%M} UTC ({timezone})"
        )
        self.stdout.write(made.site.public_id)
