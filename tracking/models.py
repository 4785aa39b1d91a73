import secrets
import zoneinfo

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

PUBLIC_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
PUBLIC_ID_LENGTH = 7
# Ten years: a bigger number means "keep everything" (leave it empty), and a huge one once overflowed
# the date arithmetic of the daily retention job.
MAX_RETENTION_DAYS = 3650


def new_public_id() -> str:
    return "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(PUBLIC_ID_LENGTH))


class Site(models.Model):
    public_id = models.CharField(max_length=PUBLIC_ID_LENGTH, unique=True, default=new_public_id)
    name = models.CharField(max_length=100)
    domain = models.CharField(
        max_length=253, help_text="Bare host name, e.g. example.com; subdomains count too."
    )
    timezone = models.CharField(max_length=64, default="UTC")
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Delete raw page views older than this many days (visits and payments are kept). "
        "Empty: keep everything.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="sites")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def owns_hostname(self, hostname: str) -> bool:
        """True when hostname is the site's domain or one of its subdomains (``www.`` ignored)."""
        host = hostname.lower().rstrip(".")
        domain = self.domain.lower()
        if host.startswith("www."):
            host = host[4:]
        return host == domain or host.endswith("." + domain)


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.OWNER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="membership_unique_user_site")]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.site.public_id}"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


class Salt(models.Model):
    """One random salt per UTC day; older than yesterday's is deleted so hashes cannot be re-linked."""

    day = models.DateField(unique=True)
    secret = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"salt {self.day}"


class Session(models.Model):
    """A visit: views of one cookie-free visitor with under 30 minutes between them.

    Source, UTM and entry page are frozen at the first view.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="sessions")
    visitor_hash = models.CharField(max_length=32)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    pageviews = models.PositiveIntegerField(default=1)
    entry_page = models.CharField(max_length=500)
    exit_page = models.CharField(max_length=500)
    hostname = models.CharField(max_length=253, blank=True)
    referrer = models.CharField(max_length=253, blank=True, help_text="Normalised source, e.g. Google")
    referrer_domain = models.CharField(max_length=253, blank=True)
    channel = models.CharField(max_length=32)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True)
    browser = models.CharField(max_length=64, blank=True)
    os = models.CharField(max_length=64, blank=True)
    device = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["site", "started_at"], name="session_site_started"),
            models.Index(fields=["site", "visitor_hash", "last_seen_at"], name="session_site_visitor_seen"),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.site_id}"

    @property
    def duration_seconds(self) -> float:
        return (self.last_seen_at - self.started_at).total_seconds()


class View(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="views")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="views")
    view_id = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    hostname = models.CharField(max_length=253)
    page = models.CharField(max_length=500)
    screen_width = models.PositiveIntegerField(null=True, blank=True)
    variant = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "view_id"], name="view_unique_site_view_id")]
        indexes = [models.Index(fields=["site", "created_at"], name="view_site_created")]

    def __str__(self) -> str:
        return f"view {self.view_id}"


class ApiKey(models.Model):
    """A bearer key for the REST API, scoped to one site. Only a SHA-256 of the key is stored."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise the key")
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_active(self) -> bool:
        return self.revoked_at is None


class RollupState(models.Model):
    """Per site: the time zone its daily rollups were built in, and the claim of the one writer.

    Claimed by a conditional UPDATE (``locked_until`` empty or past) that must change exactly one row,
    so two concurrent rollup runs never write the same site.
    """

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="rollup_state")
    timezone = models.CharField(max_length=64)
    session_high_id = models.BigIntegerField(default=0, help_text="Newest session id seen by the last run")
    view_high_id = models.BigIntegerField(default=0, help_text="Newest view id seen by the last run")
    slices_chosen_at = models.DateTimeField(null=True, blank=True, help_text="When filter slices were chosen")
    payers_flagged_through = models.BigIntegerField(
        default=0, help_text="GoalVisitor rows up to this id have their payer flag set (revenue.facts)"
    )
    locked_until = models.DateTimeField(null=True, blank=True)
    lock_token = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"rollups of {self.site_id} in {self.timezone}"


class RollupDay(models.Model):
    """A local day (in ``RollupState.timezone``) whose ``DailyRollup`` rows are complete and final.

    ``views`` and ``sessions`` are the raw counts the day was built from, so a later deletion of raw rows
    (retention) can be noticed and the day rebuilt.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="rollup_days")
    day = models.DateField()
    views = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    built_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "day"], name="rollupday_unique_site_day")]

    def __str__(self) -> str:
        return f"rolled {self.day} of {self.site_id}"


class DailyRollup(models.Model):
    """Counts of one local day for one value of one dimension ("" / "" for all traffic).

    ``views``, ``bounces``, ``session_views`` and ``duration_us`` add up over days. ``visitors`` and
    ``sessions`` count first appearances on ``day`` of a visitor hash (a session, for pages) with this
    value, split by ``last_day``: the latest earlier day it appeared with this value (null: never), so a
    range ``[A, B]`` has ``SUM(visitors) WHERE last_day IS NULL OR last_day < A`` distinct visitors,
    exactly. No hash is stored here: hashes live in sessions only.

    Session figures count sessions started on ``day``; ``views`` and page rows count views made on it.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="daily_rollups")
    dimension = models.CharField(max_length=16)
    value = models.CharField(max_length=500)
    day = models.DateField()
    last_day = models.DateField(null=True)
    visitors = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    views = models.PositiveIntegerField(default=0)
    bounces = models.PositiveIntegerField(default=0)
    session_views = models.PositiveIntegerField(default=0)
    duration_us = models.BigIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["site", "dimension", "day"], name="dailyrollup_site_dim_day"),
            # The few rows of returning visitors, read beside ``MonthRollup``'s sums.
            models.Index(
                fields=["site", "day"],
                name="dailyrollup_site_day_returning",
                condition=Q(last_day__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.dimension}={self.value!r} of {self.site_id}"


class SlotRollup(models.Model):
    """All-traffic counts of one UTC quarter hour (``slot``, its start), so a chart can be bucketed
    exactly in any time zone: every offset in use is a multiple of 15 minutes, so local days, weeks and
    hours start on a slot.

    ``sessions`` and ``views`` add up over slots: sessions started in the slot, views made in it.
    ``visitors`` counts first appearances in ``slot`` of a visitor hash (by the sessions it started),
    split by ``last_slot``: the latest earlier slot in which it started a session (null: never), so
    slots in ``[A, B)`` have ``SUM(visitors) WHERE last_slot IS NULL OR last_slot < A`` distinct
    visitors, exactly. Built, forgotten and replaced with the ``DailyRollup`` rows of the same local
    days (a slot belongs to the day it starts in); no hash is stored here.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="slot_rollups")
    slot = models.DateTimeField()
    last_slot = models.DateTimeField(null=True)
    visitors = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    views = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["site", "slot"], name="slotrollup_site_slot")]

    def __str__(self) -> str:
        return f"{self.slot:%Y-%m-%d %H:%M} UTC of {self.site_id}"


class MonthRollup(models.Model):
    """The ``DailyRollup`` rows of one whole calendar month (``month``: its first day) summed per
    dimension and value, over the rows whose ``last_day`` is null only: those count whatever the range
    (a first appearance ever). A range holding the whole month reads this row plus the month's few rows
    with a ``last_day`` (visitors back from an earlier day), so a year reads thousands of rows instead
    of hundreds of thousands. ``views`` are all on null rows. Valid while the month's days are the ones
    it was summed from (``RollupMonth``)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="month_rollups")
    month = models.DateField()
    dimension = models.CharField(max_length=16)
    value = models.CharField(max_length=500)
    visitors = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    views = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["site", "dimension", "month"], name="monthrollup_site_dim_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.dimension}={self.value!r} of {self.site_id}"


class RollupMonth(models.Model):
    """A month whose ``MonthRollup`` rows were summed from ``days`` built days, the latest built at
    ``built_at``. A reader uses them only while the month's ``RollupDay`` rows still say the same: a
    day forgotten or rebuilt since (retention, late rows, a new time zone) makes it read the days."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="rollup_months")
    month = models.DateField()
    days = models.PositiveSmallIntegerField()
    built_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "month"], name="rollupmonth_unique_site_month")
        ]

    def __str__(self) -> str:
        return f"rolled {self.month:%Y-%m} of {self.site_id}"


class DropCount(models.Model):
    """Page views ingest refused, counted per site, reason and UTC hour, so Settings can say why views
    are missing. Nothing about the visitor is kept: no IP, user agent or URL; for a page on another host
    (``hostname_mismatch``) its host name, which is what the owner needs to fix it."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="drop_counts")
    hour = models.DateTimeField()
    reason = models.CharField(max_length=32)
    hostname = models.CharField(max_length=253, blank=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "hour", "reason", "hostname"], name="dropcount_unique_site_hour_reason"
            )
        ]

    def __str__(self) -> str:
        return f"{self.count} {self.reason} of {self.site_id} at {self.hour:%Y-%m-%d %H:00}"


class Invitation(models.Model):
    """An invitation to a site for an e-mail address without an account yet. Only a SHA-256 of the
    link's token is stored; the link works once, until ``expires_at``, for whoever signs up or logs in
    with it (the address is where it was sent, not a check on the account)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.site.public_id}"

    def is_open(self, now) -> bool:
        return self.accepted_at is None and now < self.expires_at

    def mark_accepted(self, now) -> None:
        self.accepted_at = now
        self.save(update_fields=["accepted_at"])


class ShareLink(models.Model):
    """A read-only dashboard at ``/share/TOKEN/`` for anyone with the link. Only a SHA-256 of the token
    is stored (the link is shown once); revoking it makes the address a 404."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="share_links")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, help_text="The first characters, to recognise the link")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"share link {self.prefix}… of {self.site.public_id}"

    def revoke(self, now) -> None:
        self.revoked_at = now
        self.save(update_fields=["revoked_at"])


# Custom events (``Humblytics.track``) and goals. The caps are the ingest's (400 beyond them).
EVENT_NAME_MAX_LENGTH = 120
EVENT_PROPS_MAX = 30
EVENT_PROP_KEY_MAX_LENGTH = 64
EVENT_PROP_VALUE_MAX_LENGTH = 500


class CustomEvent(models.Model):
    """A custom event on a page view: a name and a few string properties.

    ``view_id`` is the page view's id as the browser sent it; ``session`` is filled when that view is
    stored (at once, or by a later pass when the event arrived first). ``uid`` is given at admission, so
    a spool record replayed after a crash is stored once. ``visitor_hash`` is the same daily-salted hash
    a session keeps: no IP or user agent.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="custom_events")
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, null=True, blank=True, related_name="custom_events"
    )
    view_id = models.CharField(max_length=64)
    uid = models.CharField(max_length=32)
    name = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    props = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    visitor_hash = models.CharField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "uid"], name="customevent_unique_site_uid")]
        indexes = [
            models.Index(fields=["site", "created_at"], name="customevent_site_created"),
            models.Index(fields=["site", "name", "created_at"], name="customevent_site_name_created"),
            models.Index(fields=["site", "view_id"], name="customevent_site_view_id"),
            # A report's tail finds its visitors' earlier events of the range (reports.event_rows) per hash.
            models.Index(fields=["site", "visitor_hash", "created_at"], name="customevent_site_hash_created"),
            # The linking pass (tracking.events.link_events) reads only events still without a session.
            models.Index(
                fields=["created_at"], condition=models.Q(session__isnull=True), name="customevent_unlinked"
            ),
        ]

    def __str__(self) -> str:
        return f"event {self.name!r} on view {self.view_id}"


class EventTerm(models.Model):
    """A custom event name or property key a site has used: ingest admits a new one only while the site
    has fewer than ``EVENT_NAMES_PER_SITE`` names (``EVENT_PROP_KEYS_PER_SITE`` keys), so a buggy page
    cannot grow the storage without bound. Deleting a row frees its place; events already stored stay."""

    class Kind(models.TextChoices):
        NAME = "name", "Event name"
        PROP = "prop", "Property key"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="event_terms")
    kind = models.CharField(max_length=4, choices=Kind.choices)
    value = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "kind", "value"], name="eventterm_unique_site_kind_value")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value!r} of {self.site_id}"


class Goal(models.Model):
    """What a site owner counts as a conversion: a custom event by name, or a visit to a page path
    (``*`` matches any run of characters, ``/thanks*`` or ``/blog/*/signup``)."""

    class Kind(models.TextChoices):
        EVENT = "event", "Custom event"
        PAGE = "page", "Page visit"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="goals")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    event_name = models.CharField(max_length=EVENT_NAME_MAX_LENGTH, blank=True)
    page_pattern = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="goal_unique_site_name")]

    def __str__(self) -> str:
        return f"goal {self.name!r} of {self.site_id}"


class Funnel(models.Model):
    """An ordered path of 2 to 8 goals (``FunnelStep``)."""

    MIN_STEPS = 2
    MAX_STEPS = 8

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="funnels")
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="funnel_unique_site_name")]

    def __str__(self) -> str:
        return f"funnel {self.name!r} of {self.site_id}"


class FunnelStep(models.Model):
    funnel = models.ForeignKey(Funnel, on_delete=models.CASCADE, related_name="steps")
    # A goal in a funnel cannot be deleted until the funnel lets it go; deleting the whole site (the
    # funnel with it) can. PROTECT would refuse even that.
    goal = models.ForeignKey(Goal, on_delete=models.RESTRICT, related_name="funnel_steps")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["funnel", "position"], name="funnelstep_unique_funnel_position")
        ]

    def __str__(self) -> str:
        return f"step {self.position} of {self.funnel_id}"


class GoalDaily(models.Model):
    """One goal's completions on one local day (in ``RollupState.timezone``), exact like ``DailyRollup``:
    ``visitors`` counts visitor hashes completing it for the first time on ``day``, split by ``last_day``
    (the latest earlier day the same hash completed it; null: never). ``completions`` adds up over days."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="goal_dailies")
    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="dailies")
    day = models.DateField()
    last_day = models.DateField(null=True)
    visitors = models.PositiveIntegerField(default=0)
    completions = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["site", "goal", "day"], name="goaldaily_site_goal_day")]

    def __str__(self) -> str:
        return f"{self.day} goal {self.goal_id} of {self.site_id}"


class EventDaily(models.Model):
    """Custom events of one name on one local day (in ``RollupState.timezone``), for the dashboard's
    Events list; exact like ``GoalDaily``: ``visitors`` counts visitor hashes sending the name for the
    first time on ``day``, split by ``last_day`` (the latest earlier day the same hash sent it; null:
    never). ``completions`` (events) adds up over days. Each built day has one row with ``name`` ""
    (no event has an empty name) and ``last_day`` null, even a day without events."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="event_dailies")
    name = models.CharField(max_length=EVENT_NAME_MAX_LENGTH, blank=True)
    day = models.DateField()
    last_day = models.DateField(null=True)
    visitors = models.PositiveIntegerField(default=0)
    completions = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["site", "day"], name="eventdaily_site_day")]

    def __str__(self) -> str:
        return f"{self.day} event {self.name!r} of {self.site_id}"


class GoalVisitor(models.Model):
    """A visitor hash that completed a goal on a local day: built, forgotten and replaced together with
    the goal's ``GoalDaily`` rows of that day, so the revenue of converting visitors looks a range's
    payers up here instead of in every page view and custom event they made. The hash is the same
    daily-salted one their sessions keep (sessions outlive page-view retention, so this keeps nothing
    longer)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="goal_visitors")
    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="visitors")
    day = models.DateField()
    visitor_hash = models.CharField(max_length=32)
    payer = models.BooleanField(
        default=False, help_text="The hash is a payer's (set by revenue.facts once the payment has a fact)"
    )

    class Meta:
        indexes = [
            models.Index(fields=["site", "visitor_hash", "day"], name="goalvisitor_site_hash_day"),
            models.Index(fields=["goal", "day"], name="goalvisitor_goal_day"),
            models.Index(
                fields=["site", "day"], name="goalvisitor_payer_day", condition=models.Q(payer=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} goal {self.goal_id} by {self.visitor_hash}"


from tracking.slice_models import RollupSlice, SliceDay, SliceRollup  # noqa: E402, F401  (this app's models)
