from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_q.tasks import async_task

from humblytics.lib.access import get_site_for_user
from revenue import reports
from revenue.connections import connect_stripe, disconnect_stripe
from revenue.forms import ConnectStripeForm, DisconnectStripeForm
from revenue.models import StripeConnection, SyncRun
from revenue.stripe_client import REQUIRED_PERMISSIONS, KeyProblem


@login_required
@require_http_methods(["GET", "POST"])
def revenue_settings(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id, owner_only=request.method == "POST")
    connection = StripeConnection.objects.filter(site=site).first()
    form = ConnectStripeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            connection = connect_stripe(
                site, form.cleaned_data["secret_key"], backfill_days=form.cleaned_data.get("backfill_days")
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
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    form = DisconnectStripeForm(request.POST)
    delete_payments = form.is_valid() and form.cleaned_data["delete_payments"]
    disconnect_stripe(site, delete_payments=delete_payments)
    messages.success(
        request,
        "Stripe disconnected and imported payments deleted."
        if delete_payments
        else "Stripe disconnected. Imported payments are kept.",
    )
    return redirect("revenue:settings", site_id=site.public_id)
