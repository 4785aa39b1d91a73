import datetime as dt

import pytest

from revenue.models import Payment
from tracking.apikeys import create_api_key
from tracking.models import Session, View

DAY = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def key(site):
    return create_api_key(site, "reports")[1]


@pytest.fixture
def data(site):
    """3 visitors, 4 sessions; one attributed payment of 50.00 (10.00 refunded), one unattributed 20.00."""
    sessions = []
    for n, (visitor, channel, pages) in enumerate(
        [("a", "Organic Search", 1), ("a", "Organic Search", 3), ("b", "Direct", 1), ("c", "Email", 2)]
    ):
        started = DAY + dt.timedelta(hours=n)
        session = Session.objects.create(
            site=site,
            visitor_hash=visitor * 32,
            started_at=started,
            last_seen_at=started,
            pageviews=pages,
            entry_page="/",
            exit_page="/",
            channel=channel,
            country="DE",
        )
        for p in range(pages):
            View.objects.create(
                site=site,
                session=session,
                view_id=f"v{n}{p}".ljust(22, "x"),
                created_at=started,
                hostname="example.com",
                page="/",
            )
        sessions.append(session)
    Payment.objects.create(
        site=site,
        stripe_id="ch_1",
        created_at=DAY,
        amount=5000,
        currency="usd",
        settlement_amount=5000,
        settlement_currency="usd",
        refunded=1000,
        net=4000,
        session=sessions[3],
        view_id="x" * 22,
        view_id_source="payment_intent",
    )
    Payment.objects.create(
        site=site,
        stripe_id="ch_2",
        created_at=DAY,
        amount=2000,
        currency="usd",
        settlement_amount=2000,
        settlement_currency="usd",
        net=2000,
        unattributed_reason="no_view_id",
    )
    return sessions


def get(client, site, path, key, **params):
    return client.get(f"/api/v1/sites/{site.public_id}/{path}", params, HTTP_AUTHORIZATION=f"Bearer {key}")


def test_summary_matches_the_definitions(client, site, key, data):
    body = get(client, site, "summary", key, start="2026-11-10", end="2026-11-10").json()
    assert body == {
        "visitors": 3,
        "sessions": 4,
        "pageviews": 7,
        "bounce_rate": 0.5,  # 2 of 4 sessions have one view
        "revenue": 6000,  # 4000 + 2000 net
        "gross_revenue": 7000,
        "refunded": 1000,
        "payments": 2,
        "conversion_rate": pytest.approx(1 / 3),  # visitor c of a, b, c
        "revenue_per_visitor": pytest.approx(4000 / 3),  # attributed net / visitors
        "attributed_share": pytest.approx(4000 / 6000),
        "currency": "usd",
        "events": 0,  # no custom event, no goal (test_goals_api covers them)
        "goals": [],
    }


def test_breakdown_by_channel(client, site, key, data):
    body = get(
        client,
        site,
        "breakdown",
        key,
        start="2026-11-10",
        end="2026-11-10",
        dimension="channel",
        order_by="revenue",
    ).json()
    assert body["currency"] == "usd"
    first = body["results"][0]
    assert (
        first["value"],
        first["visitors"],
        first["revenue"],
        first["payments"],
        first["conversion_rate"],
    ) == ("Email", 1, 4000, 1, 1.0)
    organic = next(r for r in body["results"] if r["value"] == "Organic Search")
    assert (organic["visitors"], organic["sessions"], organic["revenue"]) == (1, 2, 0)


def test_filters_restrict_every_figure(client, site, key, data):
    body = get(
        client, site, "summary", key, start="2026-11-10", end="2026-11-10", filter="channel:Email"
    ).json()
    assert (body["visitors"], body["sessions"], body["revenue"], body["payments"]) == (1, 1, 4000, 1)


def test_timeseries_by_day_in_the_sites_timezone(client, site, key, data):
    body = get(client, site, "timeseries", key, start="2026-11-09", end="2026-11-11").json()
    assert [row["date"] for row in body["results"]] == ["2026-11-09", "2026-11-10", "2026-11-11"]
    assert [row["visitors"] for row in body["results"]] == [0, 3, 0]
    assert body["results"][1]["revenue"] == 6000


def test_timezone_parameter_moves_the_day_boundary(client, site, key, data):
    # 12:00-15:00 UTC is 2026-11-11 01:00-04:00 in Auckland (UTC+13).
    body = get(
        client, site, "timeseries", key, start="2026-11-10", end="2026-11-11", timezone="Pacific/Auckland"
    ).json()
    assert [row["visitors"] for row in body["results"]] == [0, 3]


@pytest.mark.parametrize(
    "path, params, param",
    [
        ("summary", {"start": "2026-13-01"}, "start"),
        ("summary", {"start": "2026-11-10", "end": "2026-11-01"}, "end"),
        ("summary", {"start": "2020-01-01", "end": "2026-01-01"}, "start"),
        ("summary", {"timezone": "Mars/Base"}, "timezone"),
        ("summary", {"filter": "nonsense"}, "filter"),
        ("summary", {"filter": "shoe_size:42"}, "filter"),
        ("breakdown", {}, "dimension"),
        ("breakdown", {"dimension": "shoe_size"}, "dimension"),
        ("breakdown", {"dimension": "channel", "order_by": "luck"}, "order_by"),
        ("breakdown", {"dimension": "channel", "limit": "lots"}, "limit"),
        ("timeseries", {"granularity": "fortnight"}, "granularity"),
        ("timeseries", {"granularity": "hour", "start": "2026-10-01", "end": "2026-11-01"}, "granularity"),
        ("summary", {"period": "7d"}, "start"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client, site, key, path, params, param):
    response = get(client, site, path, key, **params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(param)


@pytest.mark.parametrize("path", ["summary", "breakdown?dimension=channel", "timeseries"])
def test_report_access(client, site, other_site, owner, other_user, path):
    url = f"/api/v1/sites/{site.public_id}/{path}"
    assert client.get(url).status_code == 401
    assert client.get(url, HTTP_AUTHORIZATION="Bearer hmbl_wrong").status_code == 401
    other_key = create_api_key(other_site, "x")[1]
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {other_key}").status_code == 403
    client.force_login(other_user)
    assert client.get(url).status_code == 404
    client.force_login(owner)
    assert client.get(url).status_code == 200
