from django.urls import path

from tracking import views

app_name = "tracking"

urlpatterns = [
    path("", views.list_sites, name="sites"),
    path("sites/new/", views.new_site, name="new_site"),
    path("sites/<str:site_id>/settings/", views.site_settings, name="settings"),
    path("sites/<str:site_id>/settings/delete/", views.delete_site, name="delete_site"),
    path("sites/<str:site_id>/settings/api/", views.api_keys, name="api_keys"),
    path(
        "sites/<str:site_id>/settings/api/<int:key_id>/revoke/", views.revoke_api_key, name="revoke_api_key"
    ),
]
