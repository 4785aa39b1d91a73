from django.urls import path

from humblytics.reports import views

app_name = "reports"

urlpatterns = [
    path("sites/<str:site_id>/", views.dashboard, name="dashboard"),
    path("sites/<str:site_id>/now/", views.visitors_now, name="visitors_now"),
    path("sites/<str:site_id>/details/<str:dimension>/", views.breakdown_details, name="details"),
    path("sites/<str:site_id>/export.csv", views.export_dashboard, name="export"),
    path("sites/<str:site_id>/funnels/<int:funnel_id>/", views.funnel, name="funnel"),
    path("share/<str:token>/", views.shared_dashboard, name="shared_dashboard"),
    path("share/<str:token>/details/<str:dimension>/", views.shared_breakdown_details, name="shared_details"),
    path("share/<str:token>/export.csv", views.shared_export_dashboard, name="shared_export"),
    path("share/<str:token>/now/", views.shared_visitors_now, name="shared_visitors_now"),
]
