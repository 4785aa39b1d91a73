from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from humblytics.lib.ratelimit import throttle_posts
from splittests import views as splittests_views
from tracking import views as tracking_views
from tracking.access import sign_up_throttle_keys

throttle_sign_ups = throttle_posts(
    sign_up_throttle_keys,
    limit_setting="SIGNUP_RATE_PER_IP",
    window_seconds=3600,
    message="Too many sign-up attempts from your address in the last hour. Try again later.",
)

urlpatterns = [
    path("admin/", admin.site.urls),
    # Throttled by django-axes in the authentication backends, like the admin's log-in.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", throttle_sign_ups(tracking_views.sign_up), name="signup"),
    path("api/v1/", include("humblytics.api_urls")),
    path("api/event", tracking_views.collect_event, name="collect_event"),
    path("hmbl.min.js", splittests_views.serve_snippet, name="snippet"),
    path("", include("tracking.urls")),
    # After tracking's: its "sites/new/" must win over the dashboard's "sites/<site_id>/".
    path("", include("humblytics.reports.urls")),
    path("", include("revenue.urls")),
    path("", include("splittests.urls")),
]
