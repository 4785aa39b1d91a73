"""Connecting and disconnecting Stripe: one entry point each for the Revenue tab, the admin and tests."""

from django.conf import settings
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from revenue.models import Payment, StripeConnection, StripeObject
from revenue.stripe_client import check_key, is_live_key, key_hint
from tracking.models import Site


@sensitive_variables("secret_key")
def connect_stripe(
    site: Site, secret_key: str, *, backfill_days: int | None = None, account_id: str = ""
) -> StripeConnection:
    """Validate then save (or replace) the site's key. Raises KeyProblem; nothing is saved then.

    ``account_id`` (Connect): a platform reads one connected account (``acct_…``) with its own key.
    """
    secret_key, account_id = secret_key.strip(), account_id.strip()
    check_key(secret_key, account_id)
    mode = StripeConnection.Mode.LIVE if is_live_key(secret_key) else StripeConnection.Mode.TEST
    with transaction.atomic():
        connection = StripeConnection.objects.select_for_update().filter(site=site).first()
        if connection is None:
            connection = StripeConnection(
                site=site, backfill_days=backfill_days or settings.STRIPE_BACKFILL_DAYS
            )
        elif connection.mode != mode or connection.account_id != account_id:
            # Another account or mode: what we knew (cursor, cache) belongs to the old one.
            connection.events_cursor, connection.events_cursor_at = "", None
            connection.backfill_started_at = connection.backfill_reached_at = None
            connection.backfill_completed_at = None
            StripeObject.objects.filter(connection=connection).delete()
        connection.secret_key = secret_key
        connection.key_hint = key_hint(secret_key)
        connection.mode = mode
        connection.account_id = account_id
        connection.status = StripeConnection.Status.CONNECTED
        connection.last_error = ""
        if backfill_days:
            connection.backfill_days = backfill_days
        connection.save()
    return connection


def disconnect_stripe(site: Site, *, delete_payments: bool = False) -> None:
    """Forget the key. Imported payments stay unless the owner asks to delete them too."""
    with transaction.atomic():
        if delete_payments:
            Payment.objects.filter(site=site).delete()
        StripeConnection.objects.filter(site=site).delete()
