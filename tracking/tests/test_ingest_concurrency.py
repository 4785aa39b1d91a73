import datetime as dt
import json
import threading

import pytest
from django.db import connections

from tracking import ingest, visitors
from tracking.models import Session, View

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


@pytest.mark.django_db(transaction=True)
def test_simultaneous_views_of_one_visitor_share_one_session(site):
    """A router's pushState on load sends two beacons at once: they must not open two sessions."""
    ingest._site_cache.clear()
    visitors._cache.clear()
    now = dt.datetime.now(dt.UTC)
    visitors.salt_for(now.date())
    visitors.salt_for(now.date() - dt.timedelta(days=1))
    rounds, width = 5, 4
    errors = []
    for round_number in range(rounds):
        barrier = threading.Barrier(width)

        def send(n, round_number=round_number, barrier=barrier):
            try:
                event = ingest.parse_event(
                    json.dumps(
                        {
                            "site": site.public_id,
                            "view_id": f"r{round_number}v{n}".ljust(22, "x"),
                            "url": f"https://example.com/p{n}",
                        }
                    ).encode()
                )
                barrier.wait(timeout=10)
                ingest.ingest(event, ingest.Visitor(ip=f"203.0.113.{round_number}", user_agent=CHROME), now)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(width)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors, errors
    assert View.objects.count() == rounds * width
    assert Session.objects.count() == rounds
    assert sorted(Session.objects.values_list("pageviews", flat=True)) == [width] * rounds
