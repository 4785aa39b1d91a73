"""Subprocess entry point for tests/test_sync_chaos.py: fills the chaos test's template database.

    DATABASE_URL=sqlite:////tmp/x.sqlite3 STRIPE_API_BASE=http://127.0.0.1:PORT \\
        python -m tests.chaos_sync_worker setup SECRET_KEY VIEW_ID[,VIEW_ID...]

Creates a user, a site on example.com, one page view (with its session) per view id, and connects
Stripe with the key through ``connect_stripe`` (which checks the key against the fake Stripe). Prints
the site's public id on the last line.
"""

import os
import sys


def setup(secret_key: str, view_ids: list[str]) -> str:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from revenue.connections import connect_stripe
    from tracking.models import Membership, Session, Site, View

    user = get_user_model().objects.create_user("chaos", "chaos@example.com", "correct-horse-battery")
    site = Site.objects.create(name="Chaos", domain="example.com", timezone="UTC")
    Membership.objects.create(user=user, site=site, role=Membership.Role.OWNER)
    now = timezone.now()
    for index, view_id in enumerate(view_ids):
        session = Session.objects.create(
            site=site,
            visitor_hash=f"{index:032x}",
            started_at=now,
            last_seen_at=now,
            entry_page="/pricing",
            exit_page="/pricing",
            channel="Direct",
        )
        View.objects.create(
            site=site,
            session=session,
            view_id=view_id,
            created_at=now,
            hostname="example.com",
            page="/pricing",
        )
    connect_stripe(site, secret_key, backfill_days=90)
    return site.public_id


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humblytics.settings")
    import django

    django.setup()
    if len(argv) == 4 and argv[1] == "setup":
        print(setup(argv[2], argv[3].split(",")))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
