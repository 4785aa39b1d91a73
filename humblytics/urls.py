from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from humblytics.lib.login import AdminLoginForm, LoginForm
from humblytics.lib.ratelimit import throttle_posts
from splittests import views as splittests_views
from tracking import views as tracking_views
from tracking.access import password_reset_throttle_keys, sign_up_throttle_keys

admin.site.login_form = AdminLoginForm

throttle_sign_ups = throttle_posts(
    sign_up_throttle_keys,
    limit_setting="SIGNUP_RATE_PER_IP",
    window_seconds=3600,
    message="Too many sign-up attempts from your address in the last hour. Try again later.",
)
throttle_password_resets = throttle_posts(
    password_reset_throttle_keys,
    limit_setting="PASSWORD_RESETS_PER_HOUR",
    window_seconds=3600,
    message="Too many password reset requests from your address or for this e-mail in the last hour. "
    "Try again later.",
)

urlpatterns = [
    path("admin/", admin.site.urls),
    # Throttled by django-axes in the authentication backends, like the admin's log-in.
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "accounts/password_reset/",
        throttle_password_resets(auth_views.PasswordResetView.as_view()),
        name="password_reset",
    ),
    path(
        "accounts/password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("accounts/signup/", throttle_sign_ups(tracking_views.sign_up), name="signup"),
    path("api/v1/", include("humblytics.api_urls")),
    path("api/event", tracking_views.collect_event, name="collect_event"),
    path("hmbl.min.js", splittests_views.serve_snippet, name="snippet"),
    path("hmbl.auto.js", splittests_views.serve_auto_script, name="snippet_auto"),
    path("", include("tracking.urls")),
    # After tracking's: its "sites/new/" must win over the dashboard's "sites/<site_id>/".
    path("", include("humblytics.reports.urls")),
    path("", include("revenue.urls")),
    path("", include("splittests.urls")),
]
