from django.urls import path

from revenue import views

app_name = "revenue"

urlpatterns = [
    path("sites/<str:site_id>/payments/", views.list_payments, name="payments"),
    path("sites/<str:site_id>/payments.csv", views.export_payments, name="export_payments"),
    path("sites/<str:site_id>/settings/revenue/", views.revenue_settings, name="settings"),
    path("sites/<str:site_id>/settings/revenue/sync/", views.sync_now, name="sync_now"),
    path("sites/<str:site_id>/settings/revenue/disconnect/", views.disconnect, name="disconnect"),
]
