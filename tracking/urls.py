from django.urls import path

from tracking import views

app_name = "tracking"

urlpatterns = [
    path("", views.list_sites, name="sites"),
    path("sites/new/", views.new_site, name="new_site"),
    path("sites/<str:site_id>/", views.dashboard, name="dashboard"),
    path("sites/<str:site_id>/settings/", views.site_settings, name="settings"),
]
