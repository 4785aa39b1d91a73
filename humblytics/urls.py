from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from splittests import views as splittests_views
from tracking import views as tracking_views

urlpatterns = [
    path("admin/", admin.site.urls),
    # Throttled by django-axes in the authentication backends, like the admin's log-in.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", tracking_views.sign_up, name="signup"),
    path("api/v1/", include("humblytics.api_urls")),
    path("api/event", tracking_views.collect_event, name="collect_event"),
    path("hmbl.min.js", splittests_views.serve_snippet, name="snippet"),
    path("", include("tracking.urls")),
    # After tracking's: its "sites/new/" must win over the dashboard's "sites/<site_id>/".
    path("", include("humblytics.reports.urls")),
    path("", include("revenue.urls")),
    path("", include("splittests.urls")),
]
