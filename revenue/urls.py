from django.urls import path

from humblytics.lib.ratelimit import throttle_posts
from revenue import views
from revenue.key_checks import key_check_throttle_keys

check_stripe_keys = throttle_posts(
    key_check_throttle_keys,
    limit_setting="STRIPE_KEY_CHECKS_PER_HOUR",
    window_seconds=3600,
    message="Too many Stripe keys checked in the last hour for this site or by you. Try again later.",
)

app_name = "revenue"

urlpatterns = [
    path("sites/<str:site_id>/payments/", views.list_payments, name="payments"),
    path("sites/<str:site_id>/payments.csv", views.export_payments, name="export_payments"),
    path("sites/<str:site_id>/settings/revenue/", check_stripe_keys(views.revenue_settings), name="settings"),
    path("sites/<str:site_id>/settings/revenue/sync/", views.sync_now, name="sync_now"),
    path("sites/<str:site_id>/settings/revenue/disconnect/", views.disconnect, name="disconnect"),
]
