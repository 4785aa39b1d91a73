from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from revenue import api as revenue_api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("sites/<str:site_id>/payments", revenue_api.payments, name="api-payments"),
]
