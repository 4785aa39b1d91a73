"""A large synthetic site for dashboard benchmarks: by default 1,000,000 page views in about 350,000
sessions and 20,000 payments over the last 365 days, with the skew real traffic has (a few pages,
sources and countries get most visits; a long tail gets the rest; weekday and time-of-day cycles;
slow growth). Rows are written directly (PostgreSQL COPY, else bulk_create), not through ingest, but
numbered and stored in time order as ingest would write them.

Custom events: about one per ``events_every`` page views (default 8), each on a page view a few seconds
after it, with the snippet's automatic names and a sign-up (``EVENT_NAMES``) and a property or two. The
site gets the goals an owner would define over them (``GOALS``: three event goals, two page goals, one
with a wildcard) and a funnel through three of them.

Visitor hashes follow the product's daily salt: one hash per person per UTC day, so a returning
person is a new hash on each day, as in real data.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import json
import math
import random
import secrets
import zoneinfo
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from revenue.models import Payment, Refund
from tracking.goals import FunnelSpec, GoalSpec, save_funnel, save_goal
from tracking.models import CustomEvent, EventTerm, Session, Site, View
from tracking.sites import create_site

_COUNTRY_CODES = (
    "US GB DE FR CA IN NL AU BR ES IT SE PL JP CH BE AT DK NO FI IE PT CZ MX AR KR SG NZ IL ZA TR RO "
    "UA GR HU CO CL ID PH VN TH MY TW HK NG KE EG MA PK BD AE SA RU BG HR SK SI LT LV EE RS IS LU"
)
COUNTRIES = _COUNTRY_CODES.split(" ")
BROWSERS = [("Chrome", 62), ("Safari", 20), ("Edge", 6), ("Firefox", 5), ("Samsung Internet", 3)]
BROWSERS += [("Opera", 2), ("Brave", 1), ("DuckDuckGo", 0.5), ("Yandex", 0.3), ("UC Browser", 0.2)]
OSES = [("Windows", 38), ("iOS", 22), ("Android", 20), ("macOS", 15), ("Linux", 3), ("ChromeOS", 2)]
SEARCH = [("Google", 88), ("Bing", 6), ("DuckDuckGo", 3), ("Yahoo!", 1.5), ("Ecosia", 1), ("Baidu", 0.5)]
SOCIAL = [("Twitter", 30), ("LinkedIn", 25), ("Facebook", 20), ("Reddit", 15), ("YouTube", 6)]
SOCIAL += [("Instagram", 3), ("Mastodon", 1)]
PRICES = [900, 1900, 2900, 4900, 9900, 19900]
# (name, weight, property key, values): the automatic events' names, as the snippet sends them.
EVENT_NAMES = [
    ("Outbound Link: Click", 40, "url", [f"https://site{n}.example/" for n in range(60)]),
    ("File Download", 20, "url", [f"https://large.example/files/guide-{n}.pdf" for n in range(25)]),
    ("Form: Submission", 18, "form", ["newsletter", "contact", "demo-request", "search"]),
    ("Signup", 12, "plan", ["free", "pro", "team"]),
    ("Video: Play", 10, "video", ["intro", "tour", "customer-story"]),
]
GOALS = [
    GoalSpec("Signup", "event", event="Signup"),
    GoalSpec("Outbound click", "event", event="Outbound Link: Click"),
    GoalSpec("Download", "event", event="File Download"),
    GoalSpec("Pricing", "page", page="/pricing"),
    GoalSpec("Reads the docs", "page", page="/docs/*"),
]
FUNNEL = ("Pricing to sign-up", ("Pricing", "Reads the docs", "Signup"))
SESSION_FIELDS = [
    "id",
    "visitor_hash",
    "started_at",
    "last_seen_at",
    "pageviews",
    "entry_page",
    "exit_page",
    "referrer",
    "referrer_domain",
    "channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "country",
    "browser",
    "os",
    "device",
]

# One value per SESSION_FIELDS name, in that order.
SessionRow = tuple
# (id, session id, view_id, created_at, page)
ViewRow = tuple[int, int, str, dt.datetime, str]


@dataclass(frozen=True)
class LargeSite:
    site: Site
    sessions: int
    views: int
    payments: int
    events: int = 0


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1 / (rank**s) for rank in range(1, n + 1)]


class Picker:
    """Weighted choice with cumulative weights precomputed (millions of draws)."""

    def __init__(self, items, weights):
        self.items = list(items)
        self.cum = list(itertools.accumulate(weights))
        self.total = self.cum[-1]

    def __call__(self, rng: random.Random):
        return self.items[bisect.bisect(self.cum, rng.random() * self.total)]


def _pages() -> tuple[Picker, Picker]:
    fixed = ["/", "/pricing", "/features", "/signup", "/login", "/about", "/checkout", "/contact"]
    blog = [f"/blog/post-{n}" for n in range(600)]
    docs = [f"/docs/section-{n // 10}/page-{n}" for n in range(200)]
    pages = fixed + blog + docs
    weights = [300, 120, 60, 40, 30, 10, 25, 5]
    weights += [w * 200 for w in [*zipf_weights(600, 1.05), *zipf_weights(200, 1.2)]]
    entry_weights = [w * (3 if p.startswith("/blog") else 1) for p, w in zip(pages, weights, strict=True)]
    return Picker(pages, entry_weights), Picker(pages, weights)


def _sources() -> Picker:
    """(channel, referrer, referrer_domain, utm_source, utm_medium, utm_campaign) per session."""
    referral_sites = [f"site{n}.example" for n in range(400)]
    campaigns = [f"campaign-{n}" for n in range(120)]
    rows, weights = [], []

    def add(weight, row):
        rows.append(row)
        weights.append(weight)

    add(3500, ("Direct", "", "", "", "", ""))
    for name, w in SEARCH:
        add(30 * w, ("Organic Search", name, name.lower().strip("!") + ".com", "", "", ""))
    for name, w in SOCIAL:
        add(10 * w * 10 / 10, ("Organic Social", name, name.lower() + ".com", "", "", ""))
    for domain, w in zip(referral_sites, zipf_weights(400), strict=True):
        add(1000 * w / 6.0, ("Referral", domain, domain, "", "", ""))
    for campaign, w in zip(campaigns, zipf_weights(120), strict=True):
        add(500 * w / 5.0, ("Email", "", "", "newsletter", "email", campaign))
        add(500 * w / 5.0, ("Paid Search", "Google", "google.com", "google", "cpc", campaign))
        add(300 * w / 5.0, ("Paid Social", "Facebook", "facebook.com", "facebook", "paid_social", campaign))
    add(120, ("Affiliates", "partner.example", "partner.example", "partner", "affiliate", "spring"))
    return Picker(rows, weights)


def build_large_site(
    *,
    owner: str,
    domain: str,
    tz: zoneinfo.ZoneInfo,
    end: dt.datetime,
    views: int,
    sessions: int,
    payments: int,
    days: int,
    seed: int,
    events_every: int = 8,
    goals: bool = True,
) -> LargeSite:
    """Create the site (and its owner, if missing) with traffic and payments in the ``days`` before ``end``,
    about one custom event per ``events_every`` views (0: none), and ``GOALS`` and ``FUNNEL`` if ``goals``.

    Needs sessions >= 1, views >= sessions, days >= 1, payments >= 0 and events_every >= 0.
    """
    user, _ = get_user_model().objects.get_or_create(username=owner)
    site = create_site(user, name=f"Large {domain}", domain=domain, timezone=tz.key)
    rng = random.Random(seed)
    session_rows, view_rows = _Traffic(tz, end, days, sessions, views).generate(rng)
    if connection.vendor == "postgresql":
        _copy_traffic(site, session_rows, view_rows)
    else:
        _bulk_create_traffic(site, session_rows, view_rows)
    made = _payments(site, session_rows, view_rows, payments, end, rng)
    events = _custom_events(site, session_rows, view_rows, events_every, end, rng) if events_every else 0
    if goals:
        add_goals(site)
    return LargeSite(site, len(session_rows), len(view_rows), made, events)


def add_goals(site: Site) -> None:
    """``GOALS`` and ``FUNNEL``, through the same entry points as Settings → Goals."""
    made = {spec.name: save_goal(site, spec) for spec in GOALS}
    name, steps = FUNNEL
    save_funnel(site, FunnelSpec(name, tuple(made[step].pk for step in steps)))


class _Traffic:
    """Sessions and their views: slow growth over the period, quieter weekends, busy local afternoons."""

    def __init__(self, tz: zoneinfo.ZoneInfo, end: dt.datetime, days: int, n_sessions: int, n_views: int):
        self.tz, self.end, self.days, self.n_sessions = tz, end, days, n_sessions
        self.start = end - dt.timedelta(days=days)
        self.entry_pages, self.pages = _pages()
        self.sources = _sources()
        self.countries = Picker(COUNTRIES, zipf_weights(len(COUNTRIES), 1.3))
        self.browsers = Picker([b for b, _ in BROWSERS], [w for _, w in BROWSERS])
        self.oses = Picker([o for o, _ in OSES], [w for _, w in OSES])
        day_weights = []
        for d in range(days):
            day = (self.start + dt.timedelta(days=d)).astimezone(tz)
            day_weights.append((1 + d / days) * (0.7 if day.weekday() >= 5 else 1.0))
        self.day_pick = Picker(range(days), day_weights)
        self.hour_pick = Picker(
            range(24), [0.3 + math.sin(max(0.0, (h - 6) / 17) * math.pi) for h in range(24)]
        )
        extra_views = n_views - n_sessions  # beyond the first view of each session
        # Views per session: 45% bounce, the rest geometric with the mean that makes the total.
        multi = int(n_sessions * 0.55)
        more = max(0.0, (extra_views - multi) / max(multi, 1))
        self.p_more = more / (1 + more)
        self.people = max(1, n_sessions // 3)

    def generate(self, rng: random.Random) -> tuple[list[SessionRow], list[ViewRow]]:
        first_session_id = (Session.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
        view_id = (View.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
        session_rows: list[SessionRow] = []
        view_rows: list[ViewRow] = []
        for n in range(self.n_sessions):
            session_id = first_session_id + n
            started = self._started(rng)
            count = self._view_count(rng)
            person = min(int(rng.paretovariate(1.2)), self.people) * 7919 + rng.randrange(self.people)
            salt_day = started.date().isoformat()
            visitor = hashlib.blake2b(f"{person}|{salt_day}".encode(), digest_size=16).hexdigest()
            channel, referrer, ref_domain, utm_source, utm_medium, utm_campaign = self.sources(rng)
            browser, os_name = self.browsers(rng), self.oses(rng)
            device = (
                "mobile"
                if os_name in ("iOS", "Android") and rng.random() < 0.9
                else ("tablet" if rng.random() < 0.04 else "desktop")
            )
            seen = self._views(rng, session_id, view_id, started, count)
            view_rows.extend(seen)
            view_id += len(seen)
            session_rows.append(
                (
                    session_id,
                    visitor,
                    started,
                    seen[-1][3],
                    len(seen),
                    seen[0][4],
                    seen[-1][4],
                    referrer,
                    ref_domain,
                    channel,
                    utm_source,
                    utm_medium,
                    utm_campaign,
                    self.countries(rng) if rng.random() < 0.97 else "",
                    browser,
                    os_name,
                    device,
                )
            )
        return _in_time_order(session_rows, view_rows, first_session_id, view_rows[0][0] if view_rows else 1)

    def _started(self, rng: random.Random) -> dt.datetime:
        d = self.day_pick(rng)
        local_day = (self.start + dt.timedelta(days=d)).astimezone(self.tz).date()
        local = dt.datetime.combine(local_day, dt.time(self.hour_pick(rng)), tzinfo=self.tz)
        started = (local + dt.timedelta(seconds=rng.randrange(3600))).astimezone(dt.UTC)
        if started >= self.end or started < self.start:
            started = self.start + dt.timedelta(seconds=rng.randrange(self.days * 86400))
        return started

    def _view_count(self, rng: random.Random) -> int:
        count = 1
        if rng.random() < 0.55:
            count = 2
            while rng.random() < self.p_more and count < 200:
                count += 1
        return count

    def _views(
        self, rng: random.Random, session_id: int, first_id: int, started: dt.datetime, count: int
    ) -> list[ViewRow]:
        rows: list[ViewRow] = []
        moment = started
        for i in range(count):
            page = self.entry_pages(rng) if i == 0 else self.pages(rng)
            if moment >= self.end:
                break
            rows.append((first_id + len(rows), session_id, secrets.token_urlsafe(16), moment, page))
            moment += dt.timedelta(seconds=5 + int(rng.expovariate(1 / 70)))
        return rows


def _in_time_order(
    session_rows: list[SessionRow], view_rows: list[ViewRow], first_session_id: int, first_view_id: int
) -> tuple[list[SessionRow], list[ViewRow]]:
    """The same rows numbered and listed in time order, sessions by start and views by time, as ingest
    writes them: real tables hold a range's rows close together, so a range reads a slice of the table
    rather than rows scattered over all of it."""
    session_rows = sorted(session_rows, key=lambda row: (row[2], row[0]))
    session_id = {row[0]: first_session_id + n for n, row in enumerate(session_rows)}
    session_rows = [(session_id[row[0]], *row[1:]) for row in session_rows]
    view_rows = sorted(view_rows, key=lambda row: (row[3], row[0]))
    view_rows = [
        (first_view_id + n, session_id[sid], view_id, created, page)
        for n, (_vid, sid, view_id, created, page) in enumerate(view_rows)
    ]
    return session_rows, view_rows


def _copy_traffic(site: Site, session_rows: list[SessionRow], view_rows: list[ViewRow]) -> None:
    host = site.domain
    session_cols = (
        "id, site_id, visitor_hash, started_at, last_seen_at, pageviews, entry_page, exit_page, "
        "hostname, referrer, referrer_domain, channel, utm_source, utm_medium, utm_campaign, "
        "utm_term, utm_content, country, browser, os, device"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # The rows are consistent by construction: skip the per-row deferred foreign-key
        # triggers, which would otherwise dominate the load time.
        cursor.execute("SET LOCAL session_replication_role = replica")
        raw = cursor.cursor
        with raw.copy(f"COPY {Session._meta.db_table} ({session_cols}) FROM STDIN") as copy:
            for r in session_rows:
                copy.write_row((r[0], site.pk, *r[1:7], host, *r[7:13], "", "", *r[13:]))
        view_cols = "id, site_id, session_id, view_id, created_at, hostname, page, screen_width, variant"
        with raw.copy(f"COPY {View._meta.db_table} ({view_cols}) FROM STDIN") as copy:
            for vid, sid, view_id, created, page in view_rows:
                copy.write_row((vid, site.pk, sid, view_id, created, host, page, 1440, ""))
        for model in (Session, View):
            table = model._meta.db_table
            # Table names come from the models, not from input.
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT MAX(id) FROM {table}))",  # noqa: S608
                [table],
            )
        cursor.execute(f"ANALYZE {Session._meta.db_table}")
        cursor.execute(f"ANALYZE {View._meta.db_table}")


def _bulk_create_traffic(site: Site, session_rows: list[SessionRow], view_rows: list[ViewRow]) -> None:
    host = site.domain
    with transaction.atomic():
        for chunk in _chunks(session_rows, 5000):
            Session.objects.bulk_create(
                [
                    Session(site=site, hostname=host, **dict(zip(SESSION_FIELDS, r, strict=True)))
                    for r in chunk
                ]
            )
        for chunk in _chunks(view_rows, 5000):
            View.objects.bulk_create(
                [
                    View(
                        id=vid,
                        site=site,
                        session_id=sid,
                        view_id=view_id,
                        created_at=created,
                        hostname=host,
                        page=page,
                        screen_width=1440,
                    )
                    for vid, sid, view_id, created, page in chunk
                ]
            )


def _payments(site, session_rows, view_rows, count, end, rng) -> int:
    """Payments: most attributed to a view (usually the session's last), some days later, some
    unattributed; a few refunds and lost disputes; a small share settling in another currency."""
    if not count:
        return 0
    last_view = {}
    for vid, sid, _view_id, created, _page in view_rows:
        last_view[sid] = (vid, created)
    # Buyers lean towards sessions that saw more pages.
    candidates = [r for r in session_rows if r[4] >= 2] or session_rows
    payments = [_payment(site, n, rng, candidates, last_view, end) for n in range(count)]
    with transaction.atomic():
        made = Payment.objects.bulk_create(payments, batch_size=2000)
        refunds = [
            Refund(
                payment=p,
                stripe_id=f"re_{p.stripe_id}",
                created_at=p.created_at + dt.timedelta(days=2),
                amount=p.refunded,
                currency=p.currency,
                settlement_amount=p.refunded,
                status="succeeded",
            )
            for p in made
            if p.refunded and p.status != Payment.Status.DISPUTE_LOST
        ]
        Refund.objects.bulk_create(refunds, batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Payment._meta.db_table}")
    return len(made)


def _payment(site: Site, n: int, rng: random.Random, candidates, last_view, end: dt.datetime) -> Payment:
    session = rng.choice(candidates) if rng.random() < 0.85 else None
    vid = None
    if session is not None:
        vid, seen_at = last_view[session[0]]
        delay = dt.timedelta(minutes=1 + rng.randrange(20))
        if rng.random() < 0.1:
            delay += dt.timedelta(days=rng.randrange(1, 20))
        created = min(seen_at + delay, end - dt.timedelta(seconds=1))
    else:
        created = end - dt.timedelta(seconds=rng.randrange(365 * 86400))
    amount = rng.choice(PRICES)
    currency = "eur" if rng.random() < 0.03 else "usd"
    refunded, status = 0, Payment.Status.SUCCEEDED
    r = rng.random()
    if r < 0.04:
        refunded, status = amount, Payment.Status.REFUNDED
    elif r < 0.07:
        refunded, status = amount // 2, Payment.Status.PARTIALLY_REFUNDED
    elif r < 0.075:
        refunded, status = amount, Payment.Status.DISPUTE_LOST
    return Payment(
        site=site,
        stripe_id=f"ch_large_{n:07d}",
        created_at=created,
        amount=amount,
        currency=currency,
        amount_refunded=refunded,
        settlement_amount=amount,
        settlement_currency=currency,
        refunded=refunded,
        net=amount - refunded,
        status=status,
        payment_intent=f"pi_large_{n:07d}",
        view_id="x" * 22 if session else "",
        view_id_source=Payment.Source.PAYMENT_INTENT if session else "",
        unattributed_reason="" if session else Payment.Unattributed.NO_VIEW_ID,
        matched_view_id=vid,
        session_id=session[0] if session else None,
    )


def _custom_events(site, session_rows, view_rows, every: int, end: dt.datetime, rng) -> int:
    """About one custom event per ``every`` views, on that view, 2 to 60 seconds after it (before ``end``);
    a sign-up leans towards /signup and /pricing, the others go anywhere. Registers the names and keys."""
    hashes = {r[0]: r[1] for r in session_rows}
    names = Picker(EVENT_NAMES, [w for _, w, _, _ in EVENT_NAMES])
    signup = next(e for e in EVENT_NAMES if e[0] == "Signup")
    rows = []
    for _vid, sid, view_id, created, page in view_rows:
        if rng.random() * every >= (3 if page in ("/signup", "/pricing") else 1):
            continue
        name, _, key, values = signup if page == "/signup" and rng.random() < 0.6 else names(rng)
        at = created + dt.timedelta(seconds=2 + rng.randrange(58))
        if at >= end:
            continue
        props = {key: rng.choice(values)}
        if name == "Signup" and rng.random() < 0.5:
            props["source"] = rng.choice(["header", "pricing-table", "footer"])
        uid = f"{rng.getrandbits(128):032x}"
        rows.append((sid, view_id, uid, name, props, at, hashes[sid]))
    rows.sort(key=lambda row: row[5])  # stored in time order, as ingest would
    if connection.vendor == "postgresql":
        _copy_events(site, rows)
    else:
        with transaction.atomic():
            for chunk in _chunks(rows, 5000):
                CustomEvent.objects.bulk_create(
                    CustomEvent(
                        site=site,
                        session_id=sid,
                        view_id=view_id,
                        uid=uid,
                        name=name,
                        props=props,
                        created_at=at,
                        visitor_hash=visitor_hash,
                    )
                    for sid, view_id, uid, name, props, at, visitor_hash in chunk
                )
    keys = sorted({key for _, _, key, _ in EVENT_NAMES} | {"source"})
    EventTerm.objects.bulk_create(
        [EventTerm(site=site, kind=EventTerm.Kind.NAME, value=name) for name, _, _, _ in EVENT_NAMES]
        + [EventTerm(site=site, kind=EventTerm.Kind.PROP, value=key) for key in keys],
        ignore_conflicts=True,
    )
    return len(rows)


def _copy_events(site: Site, rows: list) -> None:
    cols = "site_id, session_id, view_id, uid, name, props, created_at, visitor_hash"
    table = CustomEvent._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # consistent by construction
        with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for sid, view_id, uid, name, props, at, visitor_hash in rows:
                copy.write_row((site.pk, sid, view_id, uid, name, json.dumps(props), at, visitor_hash))
        cursor.execute(f"ANALYZE {table}")


def _chunks(rows, size):
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
