import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from revenue.models import Payment
from tracking.apikeys import create_api_key, revoke_api_key
from tracking.models import ApiKey, Session


@pytest.fixture
def key(site):
    return create_api_key(site, "reports")[1]


@pytest.fixture
def other_key(other_site):
    return create_api_key(other_site, "theirs")[1]


def make_payment(site, n, *, session=None, **fields):
    values = {
        "stripe_id": f"ch_{n:04d}",
        "payment_intent": f"pi_{n:04d}",
        "created_at": timezone.now() - dt.timedelta(minutes=n),
        "amount": 1000 + n,
        "currency": "eur",
        "settlement_amount": 1100 + n,
        "settlement_currency": "usd",
        "net": 1100 + n,
        "session": session,
        "view_id": "v" * 22 if session else "",
        "view_id_source": "payment_intent" if session else "",
        "unattributed_reason": "" if session else "no_view_id",
    }
    values.update(fields)
    return Payment.objects.create(site=site, **values)


def get(client, url, key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.get(url, **headers)


def test_payments_lists_every_documented_field(client, site, key):
    now = timezone.now()
    session = Session.objects.create(
        site=site,
        visitor_hash="a" * 32,
        started_at=now,
        last_seen_at=now,
        entry_page="/",
        exit_page="/",
        channel="Paid Search",
        referrer="Google",
        utm_source="google",
        utm_medium="cpc",
        utm_campaign="brand",
        country="FR",
        browser="Firefox",
        os="Linux",
        device="desktop",
    )
    make_payment(site, 1, session=session, refunded=100, net=1001, status="partially_refunded")
    response = get(client, f"/api/v1/sites/{site.public_id}/payments", key)
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["stripe_id"] == "ch_0001" and row["payment_intent"] == "pi_0001"
    assert (row["amount"], row["currency"], row["settlement_amount"], row["settlement_currency"]) == (
        1001,
        "eur",
        1101,
        "usd",
    )
    assert (row["refunded"], row["net"], row["status"]) == (100, 1001, "partially_refunded")
    assert (row["view_id"], row["view_id_source"], row["unattributed_reason"]) == (
        "v" * 22,
        "payment_intent",
        None,
    )
    assert row["session"] == {
        "channel": "Paid Search",
        "referrer": "Google",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "brand",
        "entry_page": "/",
        "country": "FR",
        "browser": "Firefox",
        "os": "Linux",
        "device": "desktop",
    }
    assert response.json()["next"] is None


def test_payments_filter_and_cursor_pagination(client, site, key):
    now = timezone.now()
    session = Session.objects.create(
        site=site,
        visitor_hash="b" * 32,
        started_at=now,
        last_seen_at=now,
        entry_page="/",
        exit_page="/",
        channel="Direct",
    )
    for n in range(1, 8):
        make_payment(site, n, session=session if n % 2 else None)
    unattributed = get(client, f"/api/v1/sites/{site.public_id}/payments?attributed=false", key).json()
    assert [r["stripe_id"] for r in unattributed["results"]] == ["ch_0002", "ch_0004", "ch_0006"]
    assert all(
        r["unattributed_reason"] == "no_view_id" and r["session"] is None for r in unattributed["results"]
    )
    seen = []
    url = f"/api/v1/sites/{site.public_id}/payments?limit=3"
    while url:
        page = get(client, url, key).json()
        seen += [r["stripe_id"] for r in page["results"]]
        url = page["next"]
    assert seen == [f"ch_{n:04d}" for n in range(1, 8)]


def test_bad_attributed_value_is_400(client, site, key):
    response = get(client, f"/api/v1/sites/{site.public_id}/payments?attributed=maybe", key)
    assert response.status_code == 400
    assert "attributed" in response.json()["error"]


def test_no_credentials_is_401(client, site):
    response = get(client, f"/api/v1/sites/{site.public_id}/payments")
    assert response.status_code == 401
    assert "error" in response.json()


def test_unknown_key_is_401(client, site):
    assert get(client, f"/api/v1/sites/{site.public_id}/payments", "hmbl_nope").status_code == 401


def test_revoked_key_is_401(client, site):
    row, key = create_api_key(site, "old")
    revoke_api_key(row)
    assert get(client, f"/api/v1/sites/{site.public_id}/payments", key).status_code == 401


def test_a_key_of_another_site_is_403(client, site, other_key):
    response = get(client, f"/api/v1/sites/{site.public_id}/payments", other_key)
    assert response.status_code == 403
    assert "another site" in response.json()["error"]


def test_logged_in_session_works_and_another_users_site_is_404(client, owner, other_user, site):
    client.force_login(owner)
    assert client.get(f"/api/v1/sites/{site.public_id}/payments").status_code == 200
    client.force_login(other_user)
    assert client.get(f"/api/v1/sites/{site.public_id}/payments").status_code == 404


def test_key_use_is_recorded(client, site, key):
    get(client, f"/api/v1/sites/{site.public_id}/payments", key)
    assert ApiKey.objects.get().last_used_at is not None


def test_post_is_405(client, site, key):
    response = client.post(f"/api/v1/sites/{site.public_id}/payments", {}, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 405


def test_schema_is_openapi_3(client, db):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert b"openapi: 3" in response.content or b'"openapi": "3' in response.content
    assert b"/api/v1/sites/{site_id}/payments" in response.content


def test_create_api_key_command_prints_a_working_key(client, site, capsys):
    call_command("create_api_key", site.public_id, "--name", "cron")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("hmbl_")
    assert get(client, f"/api/v1/sites/{site.public_id}/payments", key).status_code == 200
    assert ApiKey.objects.get().name == "cron"
    assert key not in str(ApiKey.objects.values_list().get())


def test_create_api_key_command_rejects_unknown_site(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No site with id"):
        call_command("create_api_key", "nosuch1")


def test_api_keys_page_shows_a_new_key_once(client_as_owner, site):
    response = client_as_owner.post(f"/sites/{site.public_id}/settings/api/", {"name": "Zapier"})
    assert response.status_code == 200
    body = response.content.decode()
    row = ApiKey.objects.get()
    start = body.index('id="new-key">') + len('id="new-key">')
    key = body[start : body.index("<", start)]
    assert key.startswith(row.prefix)
    again = client_as_owner.get(f"/sites/{site.public_id}/settings/api/").content.decode()
    assert key not in again and row.prefix in again


def test_revoking_from_the_page_asks_first(client_as_owner, site, client):
    row, _ = create_api_key(site, "ci")
    response = client_as_owner.post(f"/sites/{site.public_id}/settings/api/{row.pk}/revoke/")
    assert response.status_code == 200
    assert "Revoke the API key “ci”?" in response.content.decode()
    row.refresh_from_db()
    assert row.revoked_at is None
    response = client_as_owner.post(
        f"/sites/{site.public_id}/settings/api/{row.pk}/revoke/", {"confirmed": "yes"}
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None


def test_api_keys_page_access(client, other_user, site):
    row, _ = create_api_key(site, "x")
    assert client.get(f"/sites/{site.public_id}/settings/api/").status_code == 302
    client.force_login(other_user)
    assert client.get(f"/sites/{site.public_id}/settings/api/").status_code == 404
    assert client.post(f"/sites/{site.public_id}/settings/api/", {"name": "x"}).status_code == 404
    assert client.post(f"/sites/{site.public_id}/settings/api/{row.pk}/revoke/").status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None
