"""The Stripe secret key never leaves its encrypted column: not in logs, pages, errors, or other tables.

One scenario end to end: connect through the Revenue tab form, sync, Stripe revokes the key (401),
the key comes back restricted and missing a permission (403), Stripe has a bad minute (500, 429,
unreachable), an operator looks at everything in the admin and replaces the key there. All the while
every log record at DEBUG (root, ``stripe``, ``urllib3``, ``django``) and everything written to the
process's stdout/stderr is kept, and afterwards searched for the key.
"""

import logging
import secrets
import string
import sys

import pytest
import stripe
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.core.signals import got_request_exception
from django.db import connection as db
from django.test import Client
from django.utils import timezone
from django.views.debug import ExceptionReporter

from humblytics.lib.encryption import DecryptionError
from revenue import sync
from revenue.fakestripe import PERMISSIONS, FakeStripe, FakeStripeServer
from revenue.models import Payment, StripeConnection, SyncRun
from tracking.models import Session, View

V1 = "secretsViewAAAAAAAAAAAA1"
LOGGERS = ("", "stripe", "urllib3", "django", "django.request", "revenue", "humblytics")


def new_key(prefix: str = "sk_test_") -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(40))


def fragments(key: str) -> list[str]:
    """The key, and its secret part without the last four characters that the key hint shows."""
    body = key.split("_", 2)[2]
    return [key, body[:-4]]


def assert_no_key(text: str, key: str, where: str) -> None:
    for fragment in fragments(key):
        assert fragment not in text, f"the Stripe key appears in {where}"


class KeepEverything(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def all_logs(caplog, monkeypatch):
    """Every record at DEBUG from every logger, via caplog and a handler of our own on the root logger."""
    handler = KeepEverything()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    root.addHandler(handler)
    # The stripe library also prints requests to stderr when stripe.log is "debug".
    monkeypatch.setattr(stripe, "log", "debug")
    yield lambda: [*caplog.records, *handler.records]
    root.removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def assert_no_key_in_logs(records: list[logging.LogRecord], key: str) -> None:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        text = " ".join(
            [
                message,
                repr(record.args),
                record.exc_text or "",
                formatter.format(record),
                repr({k: str(v) for k, v in vars(record).items()}),
            ]
        )
        assert_no_key(text, key, f"a log record of {record.name}: {message[:200]}")


def assert_no_key_in_database(key: str) -> None:
    """Every column of every table, read raw: only ciphertext may hold the key."""
    with db.cursor() as cursor:
        for table in db.introspection.table_names():
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")
            for row in cursor.fetchall():
                text = " ".join(
                    bytes(v).decode("utf-8", "replace") if isinstance(v, (bytes, memoryview)) else str(v)
                    for v in row
                )
                assert_no_key(text, key, f"table {table}")


def raw_key_column(pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT secret_key FROM revenue_stripeconnection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def fake(settings):
    state = FakeStripe()
    with FakeStripeServer(state) as server:
        settings.STRIPE_API_BASE = server.url
        settings.STRIPE_REQUESTS_PER_SECOND_TEST = 1000
        settings.STRIPE_BACKOFF_SECONDS = 0.01
        settings.STRIPE_MAX_NETWORK_RETRIES = 1
        settings.STRIPE_TIMEOUT_SECONDS = 2
        yield state


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("ops", "ops@example.com", "correct-horse-battery")


def make_view(site, view_id: str) -> View:
    now = timezone.now()
    session = Session.objects.create(
        site=site, visitor_hash="f" * 32, started_at=now, last_seen_at=now, entry_page="/", exit_page="/"
    )
    return View.objects.create(
        site=site, session=session, view_id=view_id, created_at=now, hostname=site.domain, page="/"
    )


def seed(fake: FakeStripe) -> None:
    customer = fake.create_customer(email="buyer@example.com")["customer"]
    paid = fake.create_payment(5000, "usd", metadata={"humblytics_view_id": V1})
    fake.create_payment(1200, "eur", settlement_currency="usd", exchange_rate=1.1, customer=customer)
    fake.create_subscription(customer, 900, "usd", metadata={"humblytics_view_id": V1})
    fake.refund(paid["charge"], amount=1000)


def render_everything(client, admin_client, site, connection_pk: int) -> dict[str, str]:
    pages = {}
    for path in (
        f"/sites/{site.public_id}/",
        f"/sites/{site.public_id}/settings/",
        f"/sites/{site.public_id}/settings/revenue/",
        f"/sites/{site.public_id}/payments/",
        f"/sites/{site.public_id}/payments.csv",
        f"/api/v1/sites/{site.public_id}/payments",
        f"/api/v1/sites/{site.public_id}/summary",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        pages[path] = b"".join(response.streaming_content) if response.streaming else response.content
    runs = list(SyncRun.objects.filter(connection_id=connection_pk).values_list("pk", flat=True))
    admin_paths = [
        "/admin/revenue/stripeconnection/",
        f"/admin/revenue/stripeconnection/{connection_pk}/change/",
        f"/admin/revenue/stripeconnection/{connection_pk}/history/",
        "/admin/revenue/syncrun/",
        "/admin/revenue/payment/",
        *(f"/admin/revenue/syncrun/{pk}/change/" for pk in runs),
        *(f"/admin/revenue/payment/{pk}/change/" for pk in Payment.objects.values_list("pk", flat=True)[:3]),
    ]
    for path in admin_paths:
        response = admin_client.get(path)
        assert response.status_code == 200, path
        pages[path] = response.content
    return {path: body.decode("utf-8", "replace") for path, body in pages.items()}


def test_the_key_appears_in_no_log_page_error_or_table(
    client_as_owner, site, superuser, fake, all_logs, capfd, settings
):
    key = new_key()
    fake.add_key(key)
    make_view(site, V1)
    seed(fake)
    admin_client = Client()  # client_as_owner is pytest-django's `client`: the admin needs their own
    admin_client.force_login(superuser)

    # 1. Connect through the Revenue tab, then the first sync (what the queued task runs).
    url = f"/sites/{site.public_id}/settings/revenue/"
    response = client_as_owner.post(url, {"secret_key": key, "backfill_days": 30})
    assert response.status_code == 302
    connection = StripeConnection.objects.get(site=site)
    call_command("sync_stripe", stdout=(out := _Buffer()))
    assert "ok (first import)" in out.text
    assert Payment.objects.filter(site=site).count() == 3
    pages = render_everything(client_as_owner, admin_client, site, connection.pk)
    assert "sk_test_…" + key[-4:] in pages[url]

    # 2. Stripe revokes the key: 401.
    fake.revoke_key(key)
    run = sync.sync_connection(connection.pk)
    assert run.status == SyncRun.Status.FAILED
    connection.refresh_from_db()
    assert connection.status == StripeConnection.Status.KEY_REVOKED
    pages.update(
        {
            f"after 401 {p}": b
            for p, b in render_everything(client_as_owner, admin_client, site, connection.pk).items()
        }
    )
    assert "Key revoked" in pages[f"after 401 {url}"]

    # 3. The key is back as a restricted key without the events permission: 403 naming it.
    fake.add_key(key, set(PERMISSIONS.values()) - {"rak_event_read"})
    run = sync.sync_connection(connection.pk)
    connection.refresh_from_db()
    assert connection.status == StripeConnection.Status.MISSING_PERMISSION
    assert "rak_event_read" in connection.last_error
    pages.update(
        {
            f"after 403 {p}": b
            for p, b in render_everything(client_as_owner, admin_client, site, connection.pk).items()
        }
    )

    # 4. Stripe has a bad minute: 500s, plain 429s, then it is unreachable.
    fake.add_key(key)
    fake.inject_fault(status=500, count=10)
    assert sync.sync_connection(connection.pk).status == SyncRun.Status.FAILED
    fake.clear_faults()
    fake.inject_fault(status=429, count=20, should_retry=False)
    assert sync.sync_connection(connection.pk).status == SyncRun.Status.FAILED
    fake.clear_faults()
    base = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    assert sync.sync_connection(connection.pk).status == SyncRun.Status.FAILED
    settings.STRIPE_API_BASE = base
    assert sync.sync_connection(connection.pk).status == SyncRun.Status.OK

    # 5. A key that Stripe rejects, and a restricted one missing permissions, typed into the form:
    #    the error page must not echo them back.
    for bad_key, permissions in ((new_key("rk_test_"), {"rak_charge_read"}), (new_key(), None)):
        if permissions is not None:
            fake.add_key(bad_key, permissions)
        response = client_as_owner.post(url, {"secret_key": bad_key})
        assert response.status_code == 200
        assert_no_key(response.content.decode(), bad_key, "the Revenue tab's form error")

    # 6. An operator runs "Sync now" from the admin and replaces the key on the change page.
    response = admin_client.post(
        "/admin/revenue/stripeconnection/",
        {"action": "sync_now", "_selected_action": [connection.pk]},
        follow=True,
    )
    assert response.status_code == 200
    pages["admin sync_now"] = response.content.decode()
    replacement = new_key()
    fake.add_key(replacement)
    change_url = f"/admin/revenue/stripeconnection/{connection.pk}/change/"
    response = admin_client.post(
        change_url,
        {"site": site.pk, "new_secret_key": replacement, "backfill_days": 30, "status": "connected"},
        follow=True,
    )
    assert response.status_code == 200
    assert StripeConnection.objects.get(pk=connection.pk).secret_key == replacement
    pages["admin after replacing the key"] = response.content.decode()
    pages["admin change page, replaced key"] = admin_client.get(change_url).content.decode()
    pages["admin history, replaced key"] = admin_client.get(
        f"/admin/revenue/stripeconnection/{connection.pk}/history/"
    ).content.decode()
    assert sync.sync_connection(connection.pk).status == SyncRun.Status.OK

    # Now look for both keys everywhere.
    captured = capfd.readouterr()
    records = all_logs()
    assert any(r.name.startswith("stripe") for r in records), "the stripe logger was not captured"
    assert any(r.name.startswith("urllib3") for r in records), "the urllib3 logger was not captured"
    assert "message='Request to Stripe api'" in captured.err, "stripe's own debug output was not captured"
    for secret in (key, replacement):
        assert_no_key_in_logs(records, secret)
        assert_no_key(captured.out + captured.err, secret, "stdout/stderr")
        assert_no_key(out.text, secret, "the sync_stripe output")
        for where, body in pages.items():
            assert_no_key(body, secret, f"the page {where}")
        for error in SyncRun.objects.values_list("error", flat=True):
            assert_no_key(error, secret, "SyncRun.error")
        for error in StripeConnection.objects.values_list("last_error", flat=True):
            assert_no_key(error, secret, "StripeConnection.last_error")
        assert_no_key_in_database(secret)
    errors = set(SyncRun.objects.exclude(error="").values_list("error", flat=True))
    assert len(errors) >= 3  # 401, 403, 5xx/429/unreachable: the checks above saw real messages

    # The column holds Fernet ciphertext of the key, not the key.
    raw = raw_key_column(connection.pk)
    assert raw.startswith("gAAAA") and raw != replacement
    assert Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(raw.encode()).decode() == replacement


class _Buffer:
    def __init__(self):
        self.text = ""

    def write(self, value: str) -> None:
        self.text += value

    def flush(self) -> None:
        pass


@pytest.fixture
def connected(site, fake):
    from revenue.connections import connect_stripe

    key = new_key()
    fake.add_key(key)
    return connect_stripe(site, key), key


def test_rotating_the_encryption_key_keeps_the_stripe_key(connected, settings):
    connection, key = connected
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    before = raw_key_column(connection.pk)
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_keys", stdout=_Buffer())
    after = raw_key_column(connection.pk)
    assert after != before and after.startswith("gAAAA") and key not in after
    # The old key can go: the new one alone opens the value, the old one alone no longer does.
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert StripeConnection.objects.get(pk=connection.pk).secret_key == key
    assert sync.sync_connection(connection.pk).status == SyncRun.Status.OK
    settings.FIELD_ENCRYPTION_KEYS = [old]
    with pytest.raises(DecryptionError):
        StripeConnection.objects.get(pk=connection.pk).secret_key  # noqa: B018


def test_a_wrong_encryption_key_is_a_clear_error_never_the_ciphertext(connected, fake, settings):
    connection, _ = connected
    ciphertext = raw_key_column(connection.pk)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        StripeConnection.objects.get(pk=connection.pk).secret_key  # noqa: B018
    requests_before = fake.stats()["requests"]
    out = _Buffer()
    call_command("sync_stripe", stdout=out)
    assert "FIELD_ENCRYPTION_KEYS" in out.text
    run = sync.sync_connection(connection.pk)
    assert run.status == SyncRun.Status.FAILED and "FIELD_ENCRYPTION_KEYS" in run.error
    # Nothing was sent to Stripe with the ciphertext (or anything else) as the key.
    assert fake.stats()["requests"] == requests_before
    assert raw_key_column(connection.pk) == ciphertext


def test_a_sync_that_cannot_decrypt_the_key_does_not_keep_the_connection_locked(connected, settings):
    """Fixing FIELD_ENCRYPTION_KEYS must be enough: the failed attempt may not hold the lock for 30 min."""
    connection, _ = connected
    good = settings.FIELD_ENCRYPTION_KEYS
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    failed = sync.sync_connection(connection.pk)
    assert failed.status == SyncRun.Status.FAILED
    assert "FIELD_ENCRYPTION_KEYS" in failed.error
    settings.FIELD_ENCRYPTION_KEYS = good
    run = sync.sync_connection(connection.pk)
    assert run is not None, "the connection stayed locked after a sync that failed to decrypt its key"
    assert run.status == SyncRun.Status.OK


def broker_down(*args, **kwargs):
    raise ConnectionError("task broker unreachable")


def http_client_bug(*args, **kwargs):
    raise RuntimeError("unexpected failure while saving")


@pytest.mark.parametrize(
    ("target", "crash"),
    [
        # After the key was checked and saved: the task broker (Redis) is down.
        ("revenue.views.async_task", broker_down),
        # While the checked key is saved: the secret is a local variable of several frames.
        ("revenue.connections.StripeConnection.save", http_client_bug),
    ],
    ids=["broker-down", "crash-while-saving"],
)
def test_an_error_report_during_connect_does_not_contain_the_key(
    client_as_owner, site, fake, settings, monkeypatch, target, crash
):
    """A crash while the form is posted (here: the task broker is down) goes to ADMINS / error trackers
    with the request's POST data and the frames' local variables: the key must be masked there."""
    key = new_key()
    fake.add_key(key)
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    reports = []

    def keep_report(sender, request, **kwargs):
        reporter = ExceptionReporter(request, *sys.exc_info(), is_email=True)
        reports.append(reporter.get_traceback_text())
        reports.append(reporter.get_traceback_html())

    monkeypatch.setattr(target, crash)
    got_request_exception.connect(keep_report)
    client_as_owner.raise_request_exception = False
    try:
        response = client_as_owner.post(f"/sites/{site.public_id}/settings/revenue/", {"secret_key": key})
    finally:
        got_request_exception.disconnect(keep_report)
    assert response.status_code == 500
    assert reports, "no error report was produced"
    assert len(mail.outbox) == 1, "Django's mail_admins handler did not send the error report"
    message = mail.outbox[0]
    texts = {
        "the error report text": reports[0],
        "the error report HTML": reports[1],
        "the error email to ADMINS": message.body,
        **{f"the error email to ADMINS (part {i})": body for i, (body, _) in enumerate(message.alternatives)},
    }
    assert str(crash.__name__) in reports[0]
    leaks = [
        f"{where}: ...{text[max(text.index(key) - 60, 0) : text.index(key)]!r}"
        for where, text in texts.items()
        if key in text
    ]
    assert not leaks, "the Stripe key is in " + "; ".join(leaks)


def test_a_crash_inside_the_key_check_is_a_form_error_without_the_key(
    client_as_owner, site, fake, monkeypatch, caplog
):
    """A bug below the key check (here in the HTTP client) must not turn into an error report at all:
    the form says the check failed and nothing is saved."""
    key = new_key()
    fake.add_key(key)
    monkeypatch.setattr("revenue.stripe_client.ThrottledRequestsClient.request", http_client_bug)
    response = client_as_owner.post(f"/sites/{site.public_id}/settings/revenue/", {"secret_key": key})
    assert response.status_code == 200
    assert "Checking the key failed unexpectedly" in response.content.decode()
    assert not StripeConnection.objects.filter(site=site).exists()
    assert all(key not in record.getMessage() for record in caplog.records)
