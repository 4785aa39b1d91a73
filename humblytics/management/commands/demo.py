import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from humblytics import demo
from splittests.results import results_for
from tracking.models import Site, View


class Command(BaseCommand):
    help = (
        "Create the demo login, a demo site with realistic traffic, payments imported from the fake "
        "Stripe and a running split test. Idempotent; --reset rebuilds the demo site."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Delete the demo site and build it again")
        parser.add_argument("--days", type=int, default=90, help="Days of traffic (default 90)")
        parser.add_argument("--scale", type=float, default=1.0, help="Traffic volume factor (default 1)")
        parser.add_argument(
            "--stripe-url",
            default="",
            help="URL of a running fake Stripe (python -m revenue.fakestripe); default STRIPE_API_BASE "
            "when it points at this machine",
        )
        parser.add_argument("--stripe-key", default=demo.DEMO_STRIPE_KEY, help="A key the fake serves")

    def handle(self, *args, reset, days, scale, stripe_url, stripe_key, **options):
        if not 1 <= days <= 365:
            raise CommandError("--days must be between 1 and 365")
        if not 0.01 <= scale <= 10:
            raise CommandError("--scale must be between 0.01 and 10")
        started = time.monotonic()
        site = self._site(reset=reset, days=days, scale=scale, started=started)
        self._payments(site, stripe_url, stripe_key, days)
        self._split_test(site)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo site “{site.name}” ({site.domain}), SITE_ID {site.public_id}: /sites/{site.public_id}/"
            )
        )
        self.stdout.write(
            f"Demo login: username {demo.DEMO_USERNAME}  password {demo.DEMO_PASSWORD}"
            f"  (demo ready in {time.monotonic() - started:.1f} s)"
        )

    def _site(self, *, reset: bool, days: int, scale: float, started: float) -> Site:
        """The demo site with its traffic: kept if it has views, else (or with --reset) built afresh."""
        now = timezone.now()
        user, user_created = demo.ensure_user()
        if user_created:
            self.stdout.write(f"Created the demo user “{demo.DEMO_USERNAME}”.")
        site = demo.find_site(user)
        if site is not None and (reset or not View.objects.filter(site=site).exists()):
            demo.delete_site(site)
            self.stdout.write(f"Deleted the demo site {site.public_id} and its data.")
            site = None
        if site is not None:
            views = View.objects.filter(site=site).count()
            self.stdout.write(
                f"The demo site already has {views:,} views: traffic generation skipped (--reset rebuilds)."
            )
            return site
        self.stdout.write(f"Generating {days} days of traffic through the ingest pipeline…")
        site, traffic = demo.build_site(user, now=now, days=days, scale=scale, log=self.stdout.write)
        dropped = sum(traffic.dropped.values())
        self.stdout.write(
            f"Traffic: {traffic.views:,} views in {traffic.sessions:,} sessions and {traffic.events:,} "
            f"custom events over {days} days ({dropped} bot hits dropped by ingest), "
            f"{time.monotonic() - started:.1f} s."
        )
        return site

    def _payments(self, site, stripe_url: str, stripe_key: str, days: int) -> None:
        if stripe_url:
            # The sync reads the base URL from settings: point this process at the fake.
            settings.STRIPE_API_BASE = stripe_url.rstrip("/")
        url = settings.STRIPE_API_BASE
        if not demo.is_local_url(url):
            self.stdout.write(
                "Payments skipped: no fake Stripe. `make run` starts one; or run "
                "`python -m revenue.fakestripe --port 12111 --key "
                f"{demo.DEMO_STRIPE_KEY}` and pass --stripe-url http://127.0.0.1:12111."
            )
            return
        outcome = demo.setup_payments(site, url=url, key=stripe_key, days=days)
        if outcome.created is not None:
            self.stdout.write(describe_stripe_objects(outcome.created))
        self.stdout.write(outcome.message)

    def _split_test(self, site) -> None:
        test = demo.find_split_test(site)
        if test is None:
            return
        results, currency = results_for(test)
        parts = []
        for variant in results.variants:
            rpv = variant.revenue_per_visitor / 100
            parts.append(
                f"{variant.key}: {variant.visitors} visitors, {variant.conversions} converted, "
                f"{rpv:.2f} {(currency or '').upper()}/visitor"
            )
        self.stdout.write(
            f"Split test “{test.name}” ({test.status}): " + "; ".join(parts) + f". {results.status_text}"
        )


def describe_stripe_objects(created: demo.StripeSummary) -> str:
    placements = ", ".join(f"{name} {count}" for name, count in sorted(created.placements.items()))
    currencies = ", ".join(f"{name.upper()} {count}" for name, count in created.currencies.most_common())
    placements, currencies = placements or "none", currencies or "none"
    return (
        f"Fake Stripe: {created.charges} charges ({created.subscriptions} subscriptions with "
        f"{created.renewals} renewals, {created.untagged} untagged or unknown, {created.refunds} "
        f"refund, {created.disputes} dispute lost); view id on: {placements}; "
        f"currencies: {currencies}."
    )
