from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from humblytics.reports import api as reports_api
from revenue import api as revenue_api
from splittests import api as splittests_api
from tracking import goals_api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("sites/<str:site_id>/summary", reports_api.summary, name="api-summary"),
    path("sites/<str:site_id>/breakdown", reports_api.breakdown, name="api-breakdown"),
    path("sites/<str:site_id>/timeseries", reports_api.timeseries, name="api-timeseries"),
    path("sites/<str:site_id>/payments", revenue_api.payments, name="api-payments"),
    path("sites/<str:site_id>/split-tests", splittests_api.split_tests, name="api-split-tests"),
    path("sites/<str:site_id>/split-tests/<int:test_id>", splittests_api.split_test, name="api-split-test"),
    path(
        "sites/<str:site_id>/split-tests/<int:test_id>/stop",
        splittests_api.stop_split_test,
        name="api-split-test-stop",
    ),
    path("sites/<str:site_id>/goals", goals_api.goals_view, name="api-goals"),
    path("sites/<str:site_id>/goals/<int:goal_id>", goals_api.goal_view, name="api-goal"),
    path("sites/<str:site_id>/funnels", goals_api.funnels_view, name="api-funnels"),
    path("sites/<str:site_id>/funnels/<int:funnel_id>", goals_api.funnel_view, name="api-funnel"),
]
