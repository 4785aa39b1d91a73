"""What the three rollup builders (traffic, goals, events) and the readers share: a local day's UTC
start, a moment's quarter hour, runs of consecutive days to build together, id lists cut to what
SQLite binds at once, and fresh statistics after a backfill."""

import datetime as dt
import zoneinfo
from collections.abc import Iterable

from django.db import connection

BATCH_DAYS = 31
IN_CHUNK = 2000  # SQLite caps bound parameters
ANALYZE_AFTER_DAYS = 28  # a run that built more days than this refreshes its tables' statistics


def analyze(models: Iterable) -> None:
    """Fresh planner statistics for these models' tables (PostgreSQL; a no-op elsewhere). A backfill
    changes a table's shape, and plans cannot wait for autovacuum, which may be off or late: never
    analysed after their backfill, the goal-visitor rows made a 30-day API summary of a 10M-view site
    run past the report timeout (a nested loop over 230,000 rows estimated as one)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def local_midnight(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(dt.UTC)


def slot_of(moment: dt.datetime) -> dt.datetime:
    """The UTC start of the quarter hour holding ``moment`` (aware)."""
    utc = moment.astimezone(dt.UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def chunks(items: list, size: int = IN_CHUNK) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def day_runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Runs of consecutive days from ascending ``days``, at most ``BATCH_DAYS`` long."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if runs and runs[-1][1] + dt.timedelta(days=1) == day and (day - runs[-1][0]).days < BATCH_DAYS:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
