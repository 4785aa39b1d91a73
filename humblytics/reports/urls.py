from django.urls import path

from humblytics.reports import views

app_name = "reports"

urlpatterns = [
    path("sites/<str:site_id>/", views.dashboard, name="dashboard"),
    path("sites/<str:site_id>/now/", views.visitors_now, name="visitors_now"),
    path("share/<str:token>/", views.shared_dashboard, name="shared_dashboard"),
    path("share/<str:token>/now/", views.shared_visitors_now, name="shared_visitors_now"),
]
