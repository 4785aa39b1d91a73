"""Custom event ingest (issue 18): the registry of each site's event names and property keys that caps
how many distinct ones it may have, filled from events already stored; and the index the linking pass
reads (events whose page view was not stored yet)."""

import django.db.models.deletion
from django.db import migrations, models


def register_stored_terms(apps, schema_editor):
    CustomEvent = apps.get_model("tracking", "CustomEvent")
    EventTerm = apps.get_model("tracking", "EventTerm")
    terms = set()
    for site_id, name, props in CustomEvent.objects.values_list("site_id", "name", "props").iterator():
        terms.add((site_id, "name", name))
        terms.update((site_id, "prop", key[:120]) for key in (props or {}))
    EventTerm.objects.bulk_create(
        [EventTerm(site_id=site_id, kind=kind, value=value) for site_id, kind, value in sorted(terms)],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [("tracking", "0010_custom_events_goals")]

    operations = [
        migrations.CreateModel(
            name="EventTerm",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("name", "Event name"), ("prop", "Property key")], max_length=4
                    ),
                ),
                ("value", models.CharField(max_length=120)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "site",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="event_terms",
                        to="tracking.site",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("site", "kind", "value"), name="eventterm_unique_site_kind_value"
                    )
                ],
            },
        ),
        migrations.AddIndex(
            model_name="customevent",
            index=models.Index(
                condition=models.Q(("session__isnull", True)),
                fields=["created_at"],
                name="customevent_unlinked",
            ),
        ),
        migrations.RunPython(register_stored_terms, migrations.RunPython.noop),
    ]
