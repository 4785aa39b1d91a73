import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from tracking.models import DailyRollup, Session
from tracking.rollups import roll_up_site

DAY = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


def stored(site, n, *, channel, referrer="", domain="", at=DAY, **utm):
    return Session.objects.create(
        site=site,
        visitor_hash=f"v{n}",
        started_at=at,
        last_seen_at=at,
        entry_page="/",
        exit_page="/",
        referrer=referrer,
        referrer_domain=domain,
        channel=channel,
        **utm,
    )


def run(*args):
    out = io.StringIO()
    call_command("reclassify", *args, stdout=out)
    return out.getvalue()


def channel_rows(site):
    rows = DailyRollup.objects.filter(site=site, dimension="channel")
    return {(row.value, row.day): row.sessions for row in rows}


def test_it_rederives_channels_and_sources_and_rebuilds_rollups(site):
    ai = stored(site, 1, channel="Referral", referrer="ChatGPT", domain="chatgpt.com")
    webmail = stored(site, 2, channel="Referral", referrer="mail01.orange.fr", domain="mail01.orange.fr")
    newsletter = stored(site, 3, channel="Referral", utm_source="weekly", utm_medium="email_newsletter")
    vk = stored(site, 4, channel="Referral", referrer="vk.com", domain="vk.com")
    direct = stored(site, 5, channel="Direct")
    # Made paid by a gclid, which is not stored: nothing stored contradicts it.
    paid = stored(site, 6, channel="Paid Search", referrer="Google", domain="google.com")
    roll_up_site(site.pk, DAY + dt.timedelta(days=3))
    assert channel_rows(site)[("Referral", DAY.date())] == 4

    out = run("--site", site.public_id)

    assert out.startswith(f"{site.public_id}: 6 sessions checked, 4 reclassified, ")
    got = {s.pk: (s.channel, s.referrer) for s in Session.objects.all()}
    assert got[ai.pk] == ("AI Assistants", "ChatGPT")
    assert got[webmail.pk] == ("Email", "mail01.orange.fr")
    assert got[newsletter.pk] == ("Email", "")
    assert got[vk.pk] == ("Organic Social", "VK")
    assert got[direct.pk] == ("Direct", "")
    assert got[paid.pk] == ("Paid Search", "Google")
    rows = channel_rows(site)
    assert ("Referral", DAY.date()) not in rows
    assert rows[("AI Assistants", DAY.date())] == 1 and rows[("Email", DAY.date())] == 2
    # A second run has nothing left to do.
    assert "0 reclassified" in run("--site", site.public_id)


def test_since_limits_the_sessions_in_the_sites_time_zone(site):
    old = stored(site, 1, channel="Referral", domain="chatgpt.com", at=DAY - dt.timedelta(days=1))
    new = stored(site, 2, channel="Referral", domain="chatgpt.com")
    out = run("--site", site.public_id, "--since", DAY.date().isoformat())
    assert "1 sessions checked, 1 reclassified" in out
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.channel, new.channel) == ("Referral", "AI Assistants")


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--site", "nosuch1"), "No site"), (("--since", "yesterday"), "--since must be a date")],
)
def test_bad_arguments_are_refused(site, args, message):
    if args[0] == "--since":
        args = ("--site", site.public_id, *args)
    with pytest.raises(CommandError, match=message):
        run(*args)
