from django.urls import path

from humblytics.reports import views

app_name = "reports"

urlpatterns = [
    path("sites/<str:site_id>/", views.dashboard, name="dashboard"),
    path("share/<str:token>/", views.shared_dashboard, name="shared_dashboard"),
]
