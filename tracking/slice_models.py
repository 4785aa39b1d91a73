"""The models of filter slices (``tracking.slices``); ``tracking.models`` imports them."""

from django.db import models

from tracking.models import Site


class RollupSlice(models.Model):
    """A filter value (``dimension`` = ``value``, a session dimension) whose sessions hold enough of the
    site's traffic that reading them raw is slow: the rollup job keeps every breakdown, the Events list
    and the page goals of those sessions alone (``SliceRollup``), so a dashboard filtered by it reads
    rollups like an unfiltered one."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="rollup_slices")
    dimension = models.CharField(max_length=16)
    value = models.CharField(max_length=500)
    chosen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "dimension", "value"], name="rollupslice_unique_value")
        ]

    def __str__(self) -> str:
        return f"slice {self.dimension}={self.value!r} of {self.site_id}"


class SliceDay(models.Model):
    """A built local day of a slice: its ``SliceRollup`` rows are complete for the traffic day of the
    same date built at ``traffic_built_at`` (``RollupDay.built_at``: a traffic day rebuilt since, for
    whatever reason, makes this day stale) and for the page goal patterns whose digest is ``goals``."""

    slice = models.ForeignKey(RollupSlice, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    goals = models.BigIntegerField()
    traffic_built_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slice", "day"], name="sliceday_unique_day")]

    def __str__(self) -> str:
        return f"{self.slice} on {self.day}"


class SliceRollup(models.Model):
    """``DailyRollup``'s counts over one slice's sessions only, first appearances counted within the
    slice. ``dimension`` is a report dimension, ``event`` (value: a custom event name; ``views`` its
    events) or ``goal`` (value: a page goal pattern; ``views`` its matching page views)."""

    slice = models.ForeignKey(RollupSlice, on_delete=models.CASCADE, related_name="rows")
    dimension = models.CharField(max_length=16)
    value = models.CharField(max_length=500)
    day = models.DateField()
    last_day = models.DateField(null=True)
    visitors = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    views = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["slice", "dimension", "day"], name="slicerollup_slice_dim_day"),
            models.Index(fields=["slice", "day"], name="slicerollup_slice_day"),
            # Rows pointing back at an earlier day: found when that day is forgotten.
            models.Index(
                fields=["slice", "last_day"],
                condition=models.Q(last_day__isnull=False),
                name="slicerollup_slice_last_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.dimension}={self.value!r} of {self.slice_id}"
