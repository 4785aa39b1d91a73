from django.urls import path

from splittests import views

app_name = "splittests"

urlpatterns = [
    path("sites/<str:site_id>/split-tests/", views.list_split_tests, name="list"),
    path("sites/<str:site_id>/split-tests/new/", views.new_split_test, name="new"),
    path("sites/<str:site_id>/split-tests/calculator/", views.calculator, name="calculator"),
    path("sites/<str:site_id>/split-tests/<int:test_id>/", views.split_test_detail, name="detail"),
    path("sites/<str:site_id>/split-tests/<int:test_id>/edit/", views.edit_split_test, name="edit"),
    path("sites/<str:site_id>/split-tests/<int:test_id>/launch/", views.launch_split_test, name="launch"),
    path("sites/<str:site_id>/split-tests/<int:test_id>/stop/", views.stop_split_test, name="stop"),
]
