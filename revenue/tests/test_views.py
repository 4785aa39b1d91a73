import pytest
from django_q.models import OrmQ

from revenue import tasks
from revenue.models import Payment, StripeConnection
from revenue.tests.conftest import FULL_KEY
from tracking.models import Membership

URL = "/sites/{}/settings/revenue/"
V1 = "viewAAAAAAAAAAAAAAAAAAAA"


def queued_tasks():
    return OrmQ.objects.count()


def test_revenue_tab_explains_how_to_connect(client_as_owner, site):
    response = client_as_owner.get(URL.format(site.public_id))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Stripe API" in body and "Stripe Secret Key" in body
    assert "rak_charge_read" in body and "restricted key" in body


def test_connect_sync_and_troubleshoot_end_to_end(client_as_owner, site, fake_stripe, make_view):
    make_view(V1)
    attributed = fake_stripe.create_payment(5000, "usd", metadata={"humblytics_view_id": V1})
    untagged = fake_stripe.create_payment(1200, "usd")
    unknown = fake_stripe.create_payment(
        800, "usd", metadata={"humblytics_view_id": "neverSeenViewId00000000"}
    )
    fake_stripe.refund(attributed["charge"], amount=1000)

    response = client_as_owner.post(URL.format(site.public_id), {"secret_key": FULL_KEY, "backfill_days": 30})
    assert response.status_code == 302
    connection = StripeConnection.objects.get(site=site)
    assert connection.key_hint == "sk_test_…4242"
    assert connection.backfill_days == 30
    assert queued_tasks() == 1

    # What the django-q2 worker does with the queued task:
    tasks.sync_connection(connection.pk)

    page = client_as_owner.get(URL.format(site.public_id)).content.decode()
    assert FULL_KEY not in page
    assert "sk_test_…4242" in page
    assert 'id="count-payments">3<' in page
    assert 'id="count-attributed">1<' in page
    assert 'id="count-unattributed">2<' in page
    assert 'id="count-refunds">1<' in page
    # attributed net 4000 of total net 4000 + 1200 + 800 = 6000 → 66.7%
    assert 'id="attributed-share">66.7%<' in page
    assert untagged["charge"] in page and unknown["charge"] in page
    assert "no_view_id" in page and "unknown_view_id" in page
    assert "neverSeenViewId00000000" in page

    response = client_as_owner.post(URL.format(site.public_id) + "sync/")
    assert response.status_code == 302
    assert queued_tasks() == 2


def test_a_rejected_key_is_a_form_error_and_nothing_is_saved(client_as_owner, site, fake_stripe):
    response = client_as_owner.post(URL.format(site.public_id), {"secret_key": "sk_test_wrongwrongwrong"})
    assert response.status_code == 200
    assert "Stripe rejected this key" in response.content.decode()
    assert not StripeConnection.objects.exists()


def test_a_restricted_key_missing_permissions_names_them(client_as_owner, site, fake_stripe):
    fake_stripe.add_key("rk_test_limited1234", {"rak_charge_read", "rak_event_read"})
    response = client_as_owner.post(URL.format(site.public_id), {"secret_key": "rk_test_limited1234"})
    body = response.content.decode()
    assert response.status_code == 200
    for permission in ("rak_dispute_read", "rak_invoice_read", "rak_customer_read", "rak_subscription_read"):
        assert permission in body
    assert not StripeConnection.objects.exists()


def test_a_key_of_the_wrong_shape_is_refused_before_calling_stripe(client_as_owner, site, fake_stripe):
    response = client_as_owner.post(URL.format(site.public_id), {"secret_key": "pk_live_publishable"})
    assert "That is a publishable key" in response.content.decode()
    assert fake_stripe.stats()["requests"] == 0


def test_network_failure_is_a_form_error(client_as_owner, site, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 2
    response = client_as_owner.post(URL.format(site.public_id), {"secret_key": FULL_KEY})
    assert "Could not reach Stripe" in response.content.decode()
    assert not StripeConnection.objects.exists()


def test_the_key_is_encrypted_at_rest(connection):
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT secret_key FROM revenue_stripeconnection")
        (raw,) = cursor.fetchone()
    assert FULL_KEY not in raw
    assert raw.startswith("gAAAA")
    connection.refresh_from_db()
    assert connection.secret_key == FULL_KEY


def test_a_wrong_encryption_key_fails_loudly(connection, settings):
    from humblytics.lib.encryption import DecryptionError

    settings.FIELD_ENCRYPTION_KEYS = ["A" * 43 + "="]
    with pytest.raises(DecryptionError):
        StripeConnection.objects.get(pk=connection.pk).secret_key  # noqa: B018


def raw_key_column():
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT secret_key FROM revenue_stripeconnection")
        return cursor.fetchone()[0]


def test_key_rotation_lets_the_old_key_be_removed(connection, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old = settings.FIELD_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    before = raw_key_column()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_keys")
    assert raw_key_column() != before
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert StripeConnection.objects.get(pk=connection.pk).secret_key == FULL_KEY


def test_key_rotation_refuses_when_no_key_opens_the_value(connection, settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    before = raw_key_column()
    settings.FIELD_ENCRYPTION_KEYS = ["A" * 43 + "="]
    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("rotate_encryption_keys")
    assert raw_key_column() == before


def test_disconnect_keeps_payments_by_default(client_as_owner, site, connection, fake_stripe):
    fake_stripe.create_payment(1000, "usd")
    tasks.sync_connection(connection.pk)
    response = client_as_owner.post(URL.format(site.public_id) + "disconnect/", {"confirmed": "yes"})
    assert response.status_code == 302
    assert not StripeConnection.objects.exists()
    assert Payment.objects.filter(site=site).count() == 1


def test_disconnect_can_delete_payments(client_as_owner, site, connection, fake_stripe):
    fake_stripe.create_payment(1000, "usd")
    tasks.sync_connection(connection.pk)
    client_as_owner.post(
        URL.format(site.public_id) + "disconnect/", {"delete_payments": "on", "confirmed": "yes"}
    )
    assert not Payment.objects.filter(site=site).exists()


def test_disconnect_asks_first_and_says_how_many_payments_go(client_as_owner, site, connection, fake_stripe):
    fake_stripe.create_payment(1000, "usd")
    fake_stripe.create_payment(2000, "usd")
    tasks.sync_connection(connection.pk)
    response = client_as_owner.post(URL.format(site.public_id) + "disconnect/", {"delete_payments": "on"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Disconnect Stripe and delete 2 payments?" in body and "cannot be undone" in body
    # The confirming form carries the choice along.
    assert 'name="delete_payments" value="on"' in body and 'name="confirmed" value="yes"' in body
    assert StripeConnection.objects.exists() and Payment.objects.filter(site=site).count() == 2


def test_a_revoked_key_is_shown_with_what_to_do(client_as_owner, site, connection, fake_stripe):
    fake_stripe.revoke_key(FULL_KEY)
    tasks.sync_connection(connection.pk)
    body = client_as_owner.get(URL.format(site.public_id)).content.decode()
    assert "Key revoked" in body
    assert "Create a new restricted key" in body


@pytest.mark.parametrize("suffix", ["", "sync/", "disconnect/"])
def test_another_users_site_is_404(client, other_user, site, suffix):
    client.force_login(other_user)
    assert client.get(URL.format(site.public_id) + suffix).status_code in (404, 405)
    assert client.post(URL.format(site.public_id) + suffix, {"secret_key": FULL_KEY}).status_code == 404


@pytest.mark.parametrize("suffix", ["", "sync/", "disconnect/"])
def test_login_required(client, site, suffix):
    response = client.post(URL.format(site.public_id) + suffix)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_viewers_see_but_cannot_change(client, site, other_user, connection):
    Membership.objects.create(user=other_user, site=site, role=Membership.Role.VIEWER)
    client.force_login(other_user)
    assert client.get(URL.format(site.public_id)).status_code == 200
    assert client.post(URL.format(site.public_id) + "disconnect/").status_code == 403
    assert client.post(URL.format(site.public_id), {"secret_key": FULL_KEY}).status_code == 403
    assert StripeConnection.objects.exists()


@pytest.mark.parametrize("suffix", ["sync/", "disconnect/"])
def test_actions_reject_get(client_as_owner, site, suffix):
    assert client_as_owner.get(URL.format(site.public_id) + suffix).status_code == 405


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("sk_test_bad", "too short to be complete: after sk_test_"),
        ("rk_live_abc.def-ghijklmnop", "characters Stripe keys never contain"),
        ("pk_test_" + "a" * 30, "That is a publishable key"),
        ("whsec_" + "a" * 30, "webhook signing secret"),
        ("hello", "start with sk_live_, sk_test_, rk_live_ or rk_test_"),
    ],
)
def test_a_malformed_key_is_told_what_is_wrong_with_it(client_as_owner, site, key, says):
    response = client_as_owner.post(URL.format(site.public_id), {"secret_key": key})
    assert response.status_code == 200
    assert says in response.content.decode()
    assert not StripeConnection.objects.exists()


def test_on_a_connected_site_the_key_error_is_at_the_top(client_as_owner, site, connection):
    body = client_as_owner.post(URL.format(site.public_id), {"secret_key": "sk_test_bad"}).content.decode()
    error_at = body.index('id="key-error"')
    assert "The key was not saved." in body[error_at:]
    assert error_at < body.index("<h2>Revenue</h2>") < body.index('id="connect"')
    assert 'href="#id_secret_key"' in body
