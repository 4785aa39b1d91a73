"""Re-derive the channel and referrer source of a site's stored sessions with today's rules and data,
then rebuild the daily rollups of the days that changed.

Only what a session stores can be used: its referrer domain (or Android package) and UTM fields. Ad
click ids are not stored, so a session that only a click id made paid (Paid Search, Paid Social,
Display with no UTM medium) keeps its channel. Safe to run twice: the second run changes nothing.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from tracking import channels, referrers, rollups
from tracking.models import RollupDay, Session, Site

_FIELDS = (
    "id",
    "started_at",
    "referrer",
    "referrer_domain",
    "channel",
    *(f"utm_{f}" for f in channels.Utm.__slots__),
)
_BATCH = 2000


def reclassified(session: Session) -> tuple[str, str]:
    """``(channel, referrer)`` of a stored session under the current rules."""
    source = referrers.referrer_for_domain(session.referrer_domain)
    utm = channels.Utm(**{field: getattr(session, f"utm_{field}") for field in channels.Utm.__slots__})
    channel = channels.channel(source.source, source.domain, utm)
    if session.channel in channels.CLICK_ID_CHANNELS and not session.utm_medium.strip():
        channel = session.channel  # made paid by a click id, which is not stored
    referrer = source.source[:253] if session.referrer_domain else session.referrer
    return channel, referrer


class Command(BaseCommand):
    help = "Re-derive channel and referrer source of stored sessions, then rebuild the affected rollups."

    def add_arguments(self, parser):
        parser.add_argument("--site", required=True, help="The site's SITE_ID")
        parser.add_argument("--since", help="First day (YYYY-MM-DD, the site's time zone); default all")

    def handle(self, *args, site, since, **options):
        row = Site.objects.filter(public_id=site).first()
        if row is None:
            raise CommandError(f"No site with id {site!r}.")
        tz = rollups.site_tz(row)
        try:
            first_day = dt.date.fromisoformat(since) if since else None
        except ValueError:
            raise CommandError(f"--since must be a date like 2026-01-31, got {since!r}") from None
        sessions = Session.objects.filter(site=row).only(*_FIELDS).order_by("pk")
        if first_day is not None:
            sessions = sessions.filter(started_at__gte=rollups.local_midnight(first_day, tz))
        checked, changed_days, changed = 0, set(), 0
        batch: list[Session] = []
        for session in sessions.iterator(chunk_size=_BATCH):
            checked += 1
            channel, referrer = reclassified(session)
            if (channel, referrer) != (session.channel, session.referrer):
                session.channel, session.referrer = channel, referrer
                batch.append(session)
                changed_days.add(session.started_at.astimezone(tz).date())
            if len(batch) >= _BATCH:
                changed += self._save(batch)
        changed += self._save(batch)
        rebuilt = 0
        if changed_days:
            # Later days' first appearances depend on earlier days: forget every day from the first
            # changed one on; readers use the raw rows until the rollups are rebuilt just below.
            stale = RollupDay.objects.filter(site=row, day__gte=min(changed_days))
            with transaction.atomic():
                # Locked first: a payment fact the job commits meanwhile for one of these days waits,
                # then fails its check and is copied again later, instead of failing this deletion.
                list(stale.select_for_update().values_list("pk", flat=True))
                stale.delete()
            rebuilt = rollups.roll_up_site(row.pk, timezone.now())
        self.stdout.write(
            f"{row.public_id}: {checked} sessions checked, {changed} reclassified,"
            f" {rebuilt} rollup days rebuilt."
        )

    @staticmethod
    def _save(batch: list[Session]) -> int:
        count = len(batch)
        if batch:
            with transaction.atomic():
                Session.objects.bulk_update(batch, ["channel", "referrer"], batch_size=500)
            batch.clear()
        return count
