import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_q.tasks import async_task

from revenue import reports
from revenue.connections import connect_stripe, disconnect_stripe
from revenue.forms import ConnectStripeForm, DisconnectStripeForm
from revenue.models import Payment, StripeConnection, SyncRun
from revenue.shared_accounts import shared_account_warning
from revenue.stripe_client import REQUIRED_PERMISSIONS, KeyProblem
from tracking.access import get_site_for_user
from tracking.dimensions import SESSION_DIMENSIONS


@sensitive_post_parameters("secret_key")
@login_required
@require_http_methods(["GET", "POST"])
def revenue_settings(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id, owner_only=request.method == "POST")
    connection = StripeConnection.objects.filter(site=site).first()
    form = ConnectStripeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            connection = connect_stripe(
                site,
                form.cleaned_data["secret_key"],
                backfill_days=form.cleaned_data.get("backfill_days"),
                account_id=form.cleaned_data.get("account_id") or "",
            )
        except KeyProblem as problem:
            form.add_error("secret_key", str(problem))
        else:
            async_task("revenue.tasks.sync_connection", connection.pk, task_name=f"sync-{site.public_id}")
            messages.success(request, "Stripe connected. The first import has started.")
            return redirect("revenue:settings", site_id=site.public_id)
    return render(
        request,
        "revenue/settings.html",
        {
            "site": site,
            "membership": membership,
            "connection": connection,
            "form": form,
            "disconnect_form": DisconnectStripeForm(),
            "health": reports.connection_health(site, connection),
            "shared_account": shared_account_warning(site, request.user),
            "unattributed": reports.latest_unattributed(site),
            "runs": SyncRun.objects.filter(connection=connection)[:5] if connection else [],
            "permissions": REQUIRED_PERMISSIONS,
            "tab": "revenue",
        },
    )


@login_required
@require_POST
def sync_now(request, site_id: str):
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    connection = StripeConnection.objects.filter(site=site).first()
    if connection is None:
        messages.error(request, "Connect Stripe first.")
    elif connection.is_syncing():
        messages.info(request, "A sync is already running.")
    else:
        async_task("revenue.tasks.sync_connection", connection.pk, task_name=f"sync-{site.public_id}")
        messages.success(request, "Sync started. Refresh in a moment to see the results.")
    return redirect("revenue:settings", site_id=site.public_id)


@login_required
@require_POST
def disconnect(request, site_id: str):
    """Asks first (a page saying what will be lost), then disconnects on the confirmed POST."""
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    form = DisconnectStripeForm(request.POST)
    form.is_valid()
    delete_payments = form.cleaned_data.get("delete_payments", False)
    if not form.cleaned_data.get("confirmed"):
        return render(
            request,
            "tracking/confirm.html",
            {"site": site, "confirm": _disconnect_question(site, delete_payments), "tab": "revenue"},
        )
    disconnect_stripe(site, delete_payments=delete_payments)
    messages.success(
        request,
        "Stripe disconnected and imported payments deleted."
        if delete_payments
        else "Stripe disconnected. Imported payments are kept.",
    )
    return redirect("revenue:settings", site_id=site.public_id)


def _disconnect_question(site, delete_payments: bool) -> dict:
    count = Payment.objects.filter(site=site).count()
    lines = ["Humblytics forgets the Stripe key and stops importing payments."]
    if delete_payments:
        lines.append(
            f"The {count:,} imported payment{'s' if count != 1 else ''} will be deleted too: their "
            "revenue disappears from the dashboard until you connect again and the import runs. "
            "This cannot be undone."
        )
    else:
        lines.append(f"The {count:,} imported payment{'s' if count != 1 else ''} are kept.")
    return {
        "title": "Disconnect Stripe" + (f" and delete {count:,} payments" if delete_payments else ""),
        "lines": lines,
        "keep": {"delete_payments": "on"} if delete_payments else {},
        "button": "Disconnect and delete payments" if delete_payments else "Disconnect Stripe",
        "cancel_url": reverse("revenue:settings", args=[site.public_id]),
    }


PAYMENTS_PER_PAGE = 50
CSV_COLUMNS = [
    "stripe_id",
    "payment_intent",
    "created",
    "amount",
    "currency",
    "settlement_amount",
    "settlement_currency",
    "refunded",
    "net",
    "status",
    "view_id",
    "view_id_source",
    "unattributed_reason",
    *SESSION_DIMENSIONS,
]


def _payments_queryset(site, attributed: str):
    queryset = Payment.objects.filter(site=site).select_related("session").order_by("-created_at", "-id")
    if attributed == "true":
        queryset = queryset.filter(session__isnull=False)
    elif attributed == "false":
        queryset = queryset.filter(session__isnull=True)
    return queryset


@login_required
@require_http_methods(["GET"])
def list_payments(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id)
    attributed = request.GET.get("attributed", "")
    if attributed not in ("", "true", "false"):
        attributed = ""
    paginator = Paginator(_payments_queryset(site, attributed), PAYMENTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "revenue/payments.html",
        {
            "site": site,
            "membership": membership,
            "page": page,
            "attributed": attributed,
            "has_connection": StripeConnection.objects.filter(site=site).exists(),
            "section": "payments",
        },
    )


def _csv_safe(value) -> str:
    # Spreadsheet apps run cells that start with these as formulas; metadata comes from outside.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@login_required
@require_http_methods(["GET"])
def export_payments(request, site_id: str):
    site, _ = get_site_for_user(request.user, site_id)
    attributed = request.GET.get("attributed", "")

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for payment in _payments_queryset(site, attributed).iterator(chunk_size=1000):
            session = payment.session
            writer.writerow(
                [
                    payment.stripe_id,
                    payment.payment_intent,
                    payment.created_at.isoformat(),
                    payment.amount,
                    payment.currency,
                    payment.settlement_amount,
                    payment.settlement_currency,
                    payment.refunded,
                    payment.net,
                    payment.status,
                    _csv_safe(payment.view_id),
                    payment.view_id_source,
                    payment.unattributed_reason,
                    *(_csv_safe(getattr(session, field)) if session else "" for field in SESSION_DIMENSIONS),
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="humblytics-{site.public_id}-payments.csv"'
    return response
