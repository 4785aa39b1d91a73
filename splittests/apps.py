from django.apps import AppConfig


class SplittestsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "splittests"
