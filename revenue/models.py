import datetime as dt
import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from humblytics.lib.encryption import EncryptedTextField
from tracking.models import RollupDay, Session, Site, View

VIEW_ID_KEY = "humblytics_view_id"


class StripeConnectionManager(models.Manager):
    def get_queryset(self):
        # The key is decrypted only where it is used (the sync, the key check): pages, the admin and
        # commands keep working, and say what is wrong, when FIELD_ENCRYPTION_KEYS no longer opens it.
        return super().get_queryset().defer("secret_key")


class StripeConnection(models.Model):
    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        ERROR = "error", "Error"
        KEY_REVOKED = "key_revoked", "Key revoked"
        MISSING_PERMISSION = "missing_permission", "Missing permission"

    class Mode(models.TextChoices):
        TEST = "test", "Test mode"
        LIVE = "live", "Live mode"

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="stripe_connection")
    secret_key = EncryptedTextField()
    key_hint = models.CharField(max_length=40)
    mode = models.CharField(max_length=4, choices=Mode.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTED)
    last_error = models.TextField(blank=True)
    backfill_days = models.PositiveIntegerField(default=90)
    backfill_started_at = models.DateTimeField(null=True, blank=True)
    backfill_reached_at = models.DateTimeField(
        null=True, blank=True, help_text="Oldest charge time imported so far during the first import"
    )
    backfill_completed_at = models.DateTimeField(null=True, blank=True)
    events_cursor = models.CharField(max_length=255, blank=True, help_text="Id of the newest event processed")
    events_cursor_at = models.DateTimeField(null=True, blank=True)
    last_reconciled_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    lock_token = models.CharField(max_length=32, blank=True)
    account_id = models.CharField(
        max_length=255,
        blank=True,
        help_text="Connect: the connected account (acct_…) this key reads; every call carries it",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StripeConnectionManager()

    def __str__(self) -> str:
        return f"Stripe {self.key_hint} for {self.site.public_id}"

    def is_syncing(self) -> bool:
        return bool(self.locked_until and self.locked_until > timezone.now())

    # The sync's state transitions. Each writes only its own fields with a targeted UPDATE (never
    # save()), so it cannot overwrite what a concurrent request changed, then mirrors them here.

    def claim_lock(self, now: dt.datetime, ttl: dt.timedelta) -> str | None:
        """Take the per-connection lock with a conditional UPDATE that must change exactly one row.

        Returns the token that renews and releases it, or None while another run's lease lasts (or
        the row is gone). Works on an instance that carries only the pk.
        """
        token = secrets.token_hex(8)
        if not self._update_if(
            Q(locked_until__isnull=True) | Q(locked_until__lt=now), locked_until=now + ttl, lock_token=token
        ):
            return None
        return token

    def renew_lock(self, token: str, until: dt.datetime) -> bool:
        """Extend the lease, only while ``token`` still holds it."""
        return self._update_if(Q(lock_token=token), locked_until=until)

    def release_lock(self, token: str) -> bool:
        """Give the lock back, only if ``token`` holds it: a run whose lease ran out leaves its
        successor's lock alone."""
        return self._update_if(Q(lock_token=token), locked_until=None, lock_token="")

    def start_backfill(self, events_cursor: str, events_cursor_at: dt.datetime, now: dt.datetime) -> None:
        self._update(events_cursor=events_cursor, events_cursor_at=events_cursor_at, backfill_started_at=now)

    def record_backfill_progress(self, reached: dt.datetime | None) -> None:
        """The oldest charge time the first import has stored; None when an attempt starts over."""
        self._update(backfill_reached_at=reached)

    def complete_backfill(self, now: dt.datetime) -> None:
        # The first import listed the whole window: it counts as a reconciliation.
        self._update(backfill_completed_at=now, last_reconciled_at=now)

    def advance_cursor(self, event_id: str, at: dt.datetime | None) -> None:
        """Call only once the rows the events up to ``event_id`` touched are committed."""
        self._update(events_cursor=event_id, events_cursor_at=at)

    def mark_reconciled(self, now: dt.datetime, *, cursor: tuple[str, dt.datetime] | None = None) -> None:
        """Record a reconciliation; with ``cursor``, the events feed restarts there in the same UPDATE."""
        fields: dict = {"last_reconciled_at": now}
        if cursor is not None:
            fields["events_cursor"], fields["events_cursor_at"] = cursor
        self._update(**fields)

    def fail_interrupted_runs(self, now: dt.datetime) -> int:
        """Call holding the lock: a run still marked running then holds none, so its process died."""
        return self.runs.filter(status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.FAILED,
            finished_at=now,
            error="Interrupted (the process stopped before finishing); nothing it had stored was lost.",
        )

    def mark_synced(self, now: dt.datetime) -> None:
        self._update(status=self.Status.CONNECTED, last_error="", last_sync_at=now, last_success_at=now)

    def mark_failed(self, status: str, message: str, now: dt.datetime) -> None:
        """A sync started at ``now`` failed; ``message`` is shown to the site owner."""
        self._update(status=status, last_error=message, last_sync_at=now)

    def mark_sync_stopped(self, now: dt.datetime) -> None:
        """A sync started at ``now`` stopped without an outcome (interrupted): status stays as it was."""
        self._update(last_sync_at=now)

    def set_backfill_days(self, days: int) -> None:
        self._update(backfill_days=days)

    def _update(self, **fields) -> None:
        StripeConnection.objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)

    def _update_if(self, condition: Q, **fields) -> bool:
        changed = StripeConnection.objects.filter(pk=self.pk).filter(condition).update(**fields) == 1
        if changed:
            for name, value in fields.items():
                setattr(self, name, value)
        return changed


class SyncRun(models.Model):
    class Kind(models.TextChoices):
        BACKFILL = "backfill", "First import"
        INCREMENTAL = "incremental", "Incremental"
        RECONCILE = "reconcile", "Reconciliation"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(StripeConnection, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    api_calls = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    objects_seen = models.PositiveIntegerField(default=0)
    payments_new = models.PositiveIntegerField(default=0)
    payments_updated = models.PositiveIntegerField(default=0)
    refunds_seen = models.PositiveIntegerField(default=0)
    disputes_seen = models.PositiveIntegerField(default=0)
    attributed = models.PositiveIntegerField(default=0)
    skipped_values = models.PositiveIntegerField(
        default=0,
        help_text="Metadata values ignored because they cannot be stored (NUL, lone surrogate, over-long)",
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"

    @property
    def calls_per_payment(self) -> float | None:
        touched = self.payments_new + self.payments_updated
        return round(self.api_calls / touched, 3) if touched else None

    # The counters accumulate on the instance during the run (only this process writes the row while
    # it holds the connection's lock), so ending a run saves the whole row once.

    def finish(self, api_calls: int, finished_at: dt.datetime) -> None:
        self.status = self.Status.OK
        self._end(api_calls, finished_at)

    def fail(self, message: str, api_calls: int, finished_at: dt.datetime) -> None:
        self.status, self.error = self.Status.FAILED, message
        self._end(api_calls, finished_at)

    def stop(self, api_calls: int, finished_at: dt.datetime) -> None:
        """Interrupted without an outcome: it stays running, and the next run marks it interrupted."""
        self._end(api_calls, finished_at)

    def _end(self, api_calls: int, finished_at: dt.datetime) -> None:
        self.api_calls, self.finished_at = api_calls, finished_at
        self.save()


class Payment(models.Model):
    """One succeeded, captured Stripe charge. Money in minor units of the named currency."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"
        DISPUTED = "disputed", "Disputed"
        DISPUTE_LOST = "dispute_lost", "Dispute lost"
        FAILED = "failed", "Failed after succeeding"

    class Source(models.TextChoices):
        PAYMENT_INTENT = "payment_intent", "PaymentIntent"
        INVOICE = "invoice", "Invoice"
        SUBSCRIPTION = "subscription", "Subscription"
        CHECKOUT_SESSION = "checkout_session", "Checkout Session"
        CUSTOMER = "customer", "Customer"
        CHARGE = "charge", "Charge"

    class Unattributed(models.TextChoices):
        NO_VIEW_ID = "no_view_id", "No view id on any object"
        UNKNOWN_VIEW_ID = "unknown_view_id", "View id never seen by the tracker"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="payments")
    connection = models.ForeignKey(
        StripeConnection, on_delete=models.SET_NULL, null=True, blank=True, related_name="payments"
    )
    stripe_id = models.CharField(max_length=255, help_text="Charge id")
    livemode = models.BooleanField(default=False)
    created_at = models.DateTimeField(help_text="Stripe's created time of the charge")
    amount = models.BigIntegerField(help_text="Captured amount, presentment currency")
    currency = models.CharField(max_length=3)
    amount_refunded = models.BigIntegerField(default=0, help_text="Presentment currency")
    settlement_amount = models.BigIntegerField()
    settlement_fee = models.BigIntegerField(default=0)
    settlement_currency = models.CharField(max_length=3)
    refunded = models.BigIntegerField(
        default=0,
        help_text="Succeeded refunds + lost disputes (+ the whole amount of a failed debit), settlement",
    )
    net = models.BigIntegerField(help_text="settlement_amount - refunded")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUCCEEDED)
    payment_intent = models.CharField(max_length=255, blank=True)
    customer = models.CharField(max_length=255, blank=True)
    invoice = models.CharField(max_length=255, blank=True)
    subscription = models.CharField(max_length=255, blank=True)
    checkout_session = models.CharField(max_length=255, blank=True)
    charge_view_id = models.CharField(
        max_length=255, blank=True, help_text="humblytics_view_id on the Charge itself (the last resort)"
    )
    view_id = models.CharField(max_length=255, blank=True)
    view_id_source = models.CharField(max_length=20, choices=Source.choices, blank=True)
    unattributed_reason = models.CharField(max_length=20, choices=Unattributed.choices, blank=True)
    matched_view = models.ForeignKey(
        View, on_delete=models.SET_NULL, null=True, blank=True, related_name="payments"
    )
    session = models.ForeignKey(
        Session, on_delete=models.SET_NULL, null=True, blank=True, related_name="payments"
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "stripe_id"], name="payment_unique_site_charge")
        ]
        indexes = [
            models.Index(fields=["site", "created_at"], name="payment_site_created"),
            models.Index(fields=["site", "payment_intent"], name="payment_site_pi"),
            models.Index(fields=["site", "unattributed_reason"], name="payment_site_unattributed"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.stripe_id} {self.amount} {self.currency}"


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="refunds")
    stripe_id = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    amount = models.BigIntegerField(help_text="Presentment currency")
    currency = models.CharField(max_length=3)
    settlement_amount = models.BigIntegerField(help_text="Positive, settlement currency")
    status = models.CharField(max_length=20)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["payment", "stripe_id"], name="refund_unique_payment_id")
        ]

    def __str__(self) -> str:
        return self.stripe_id


class Dispute(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="disputes")
    stripe_id = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    amount = models.BigIntegerField(help_text="Presentment currency")
    currency = models.CharField(max_length=3)
    settlement_amount = models.BigIntegerField(help_text="Positive, settlement currency")
    status = models.CharField(max_length=30)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["payment", "stripe_id"], name="dispute_unique_payment_id")
        ]

    def __str__(self) -> str:
        return self.stripe_id

    # A lost dispute under appeal keeps its funds withdrawn until the appeal is won.
    LOST_STATUSES = frozenset({"lost", "appeal_needs_response", "appeal_under_review"})
    CLOSED_STATUSES = frozenset({"won", "lost", "warning_closed", "prevented"})

    def is_lost(self) -> bool:
        return self.status in self.LOST_STATUSES

    def is_closed(self) -> bool:
        """Closed for good: nothing about it changes any more (an appealed loss is not closed)."""
        return self.status in self.CLOSED_STATUSES


class StripeObject(models.Model):
    """What the sync learned about a PaymentIntent, Invoice (and its InvoicePayments), Subscription,
    Checkout Session or Customer.

    Only our own metadata key is kept, never the rest of the merchant's metadata. Subscription- and
    customer-level ids are reused for renewals and later payments without calling Stripe again.
    """

    class Type(models.TextChoices):
        PAYMENT_INTENT = "payment_intent", "PaymentIntent"
        INVOICE = "invoice", "Invoice"
        SUBSCRIPTION = "subscription", "Subscription"
        CHECKOUT_SESSION = "checkout_session", "Checkout Session"
        CUSTOMER = "customer", "Customer"
        INVOICE_PAYMENT = "invoice_payment", "InvoicePayment"

    connection = models.ForeignKey(StripeConnection, on_delete=models.CASCADE, related_name="cached_objects")
    stripe_id = models.CharField(max_length=255)
    type = models.CharField(max_length=20, choices=Type.choices)
    view_id = models.CharField(max_length=255, blank=True)
    customer = models.CharField(max_length=255, blank=True)
    subscription = models.CharField(max_length=255, blank=True)
    payment_intent = models.CharField(max_length=255, blank=True)
    charge = models.CharField(max_length=255, blank=True, help_text="InvoicePayment of type charge")
    invoice = models.CharField(max_length=255, blank=True, help_text="The invoice an InvoicePayment pays")
    client_reference_id = models.CharField(
        max_length=255, blank=True, help_text="Checkout Session: a view id passed by a Payment Link"
    )
    is_deleted = models.BooleanField(default=False)
    needs_refresh = models.BooleanField(
        default=False, help_text="Fetch again before use; until then the tag we saw still counts"
    )
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "stripe_id"], name="stripeobject_unique_connection_id"
            )
        ]
        indexes = [
            models.Index(fields=["connection", "type", "payment_intent"], name="stripeobject_conn_type_pi"),
            models.Index(fields=["connection", "type", "subscription"], name="stripeobject_conn_type_sub"),
            models.Index(fields=["connection", "type", "charge"], name="stripeobject_conn_type_charge"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"


class PaymentFact(models.Model):
    """What the dashboard needs of an attributed payment's session and view, copied by the rollup job
    (``revenue.facts``) once the session's local day is built, so a year of revenue breakdowns reads
    the payments and these rows instead of joining them to every session and view of the site.

    A fact belongs to the build of its session's day (``rollup_day``): forgetting or rebuilding that day
    (``reclassify``, late rows, retention, a new time zone) deletes it in the same transaction. It is read
    only while its payment still has the same ``session_id`` and ``matched_view_id``.
    """

    payment = models.OneToOneField(Payment, on_delete=models.CASCADE, primary_key=True, related_name="fact")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    session_id = models.BigIntegerField()
    matched_view_id = models.BigIntegerField(null=True)
    rollup_day = models.ForeignKey(
        RollupDay,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The built day the session started on",
    )
    visitor_hash = models.CharField(max_length=32)
    started_at = models.DateTimeField()
    view_session_id = models.BigIntegerField(null=True)
    view_at = models.DateTimeField(null=True)
    page = models.CharField(max_length=500, blank=True)
    channel = models.CharField(max_length=32)
    referrer = models.CharField(max_length=253, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    entry_page = models.CharField(max_length=500)
    exit_page = models.CharField(max_length=500)
    country = models.CharField(max_length=2, blank=True)
    browser = models.CharField(max_length=64, blank=True)
    os = models.CharField(max_length=64, blank=True)
    device = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [models.Index(fields=["site", "visitor_hash"], name="paymentfact_site_hash")]

    def __str__(self) -> str:
        return f"fact of payment {self.payment_id}"
