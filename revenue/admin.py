from django import forms
from django.contrib import admin, messages
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from revenue import sync
from revenue.models import Dispute, Payment, Refund, StripeConnection, SyncRun
from revenue.stripe_client import is_live_key, key_hint


class StripeConnectionForm(forms.ModelForm):
    new_secret_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: paste a key to replace the stored one. The stored key is never displayed.",
    )

    class Meta:
        model = StripeConnection
        fields = ["site", "backfill_days", "status"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and not cleaned.get("new_secret_key"):
            self.add_error("new_secret_key", "A key is required for a new connection.")
        return cleaned

    def save(self, commit=True):
        connection = super().save(commit=False)
        key = self.cleaned_data.get("new_secret_key", "").strip()
        if key:
            connection.secret_key = key
            connection.key_hint = key_hint(key)
            connection.mode = StripeConnection.Mode.LIVE if is_live_key(key) else StripeConnection.Mode.TEST
        if commit:
            connection.save()
        return connection


@admin.register(StripeConnection)
class StripeConnectionAdmin(admin.ModelAdmin):
    form = StripeConnectionForm
    list_display = ["site", "mode", "status", "key_hint", "last_sync_at", "last_success_at"]
    list_filter = ["mode", "status"]
    search_fields = ["site__name", "site__public_id", "site__domain", "key_hint"]
    readonly_fields = [
        "key_hint",
        "mode",
        "last_error",
        "last_sync_at",
        "last_success_at",
        "backfill_started_at",
        "backfill_reached_at",
        "backfill_completed_at",
        "events_cursor",
        "events_cursor_at",
        "last_reconciled_at",
        "locked_until",
    ]
    actions = ["sync_now"]

    @method_decorator(sensitive_post_parameters("new_secret_key"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fields(self, request, obj=None):
        return ["site", "new_secret_key", "backfill_days", "status", *self.readonly_fields]

    @admin.action(description="Sync now (in the foreground)")
    def sync_now(self, request, queryset):
        for connection in queryset:
            run = sync.sync_connection(connection.pk)
            self.message_user(
                request,
                f"{connection.site.public_id}: {sync.describe(run)}",
                messages.SUCCESS if run and run.status == SyncRun.Status.OK else messages.WARNING,
            )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return False


class DisputeInline(RefundInline):
    model = Dispute


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "stripe_id",
        "site",
        "created_at",
        "amount",
        "currency",
        "net",
        "settlement_currency",
        "status",
        "view_id_source",
        "unattributed_reason",
    ]
    list_filter = [
        "view_id_source",
        "unattributed_reason",
        "settlement_currency",
        "currency",
        "status",
        ("session", admin.EmptyFieldListFilter),
    ]
    search_fields = ["stripe_id", "payment_intent", "view_id", "customer", "invoice", "subscription"]
    inlines = [RefundInline, DisputeInline]
    date_hierarchy = "created_at"


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "connection",
        "kind",
        "status",
        "started_at",
        "finished_at",
        "api_calls",
        "pages",
        "payments_new",
        "payments_updated",
        "refunds_seen",
        "disputes_seen",
        "calls_per_payment",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["connection__site__public_id", "error"]
