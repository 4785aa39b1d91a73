import importlib

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from humblytics.schedules import schedules


def test_every_scheduled_function_imports():
    for spec in schedules():
        module_path, name = spec["func"].rsplit(".", 1)
        module = importlib.import_module(module_path)
        assert callable(getattr(module, name)), spec["func"]


@pytest.mark.django_db
def test_sync_schedules_is_idempotent():
    call_command("sync_schedules")
    call_command("sync_schedules")
    names = sorted(Schedule.objects.values_list("name", flat=True))
    assert names == sorted(spec["name"] for spec in schedules())


@pytest.mark.django_db
def test_sync_schedules_updates_a_changed_schedule():
    first = schedules()[0]
    Schedule.objects.create(name=first["name"], func="old.path", schedule_type=Schedule.DAILY)
    call_command("sync_schedules")
    assert Schedule.objects.get(name=first["name"]).func == first["func"]
