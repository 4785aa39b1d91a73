"""Exit pages became a report dimension (tracking/dimensions.py): days rolled up before have no
exit_page rows, so every built day is forgotten here and the rollup job rebuilds them from the raw rows.
Readers read forgotten days raw meanwhile, so figures stay right, only slower until the rebuild."""

from django.db import migrations


def forget_built_days(apps, schema_editor):
    apps.get_model("tracking", "RollupDay").objects.all().delete()
    apps.get_model("tracking", "DailyRollup").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("tracking", "0008_share_link")]

    operations = [migrations.RunPython(forget_built_days, migrations.RunPython.noop)]
