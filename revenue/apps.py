from django.apps import AppConfig


class RevenueConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "revenue"

    def ready(self) -> None:
        from revenue import facts
        from tracking import rollups

        # Payment facts are copied by the rollup job once a session's day is built.
        if facts.build not in rollups.FOLLOWERS:
            rollups.FOLLOWERS.append(facts.build)
