"""Payment facts (``revenue.facts``): the rollup job copies an attributed payment's session and view
values once the session's day is built; the unfiltered dashboard on PostgreSQL reads its revenue from
them (``humblytics.reports.payment_facts``) and gives exactly the raw figures, and never reads a fact
that no longer describes its payment (re-attributed, its view deleted, its session's day rebuilt)."""

import datetime as dt
from dataclasses import replace

import pytest
from django.db import connection

from humblytics.reports import revenue, widgets
from humblytics.reports.tests.test_goals_rollups import add_goals, assert_goals_same_as_raw
from humblytics.reports.tests.test_rollups import DAYS, START, after, assert_same_as_raw, make_site, query
from revenue.models import Payment, PaymentFact
from tracking import rollups
from tracking.dimensions import SESSION_DIMENSIONS
from tracking.models import GoalVisitor, RollupDay, RollupState, Session, View

RANGES = [(0, DAYS - 1), (-5, DAYS + 3), (3, 3), (2, 9), (10, DAYS)]
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the dashboard reads payment facts on PostgreSQL only"
)


@pytest.fixture
def site(db):
    made = make_site("facts", "America/New_York", 31)
    add_goals(made)
    # A debit that failed after succeeding counts nowhere, whether its payment has a fact or not.
    for payment in Payment.objects.filter(site=made, session__isnull=False).order_by("pk")[:3]:
        payment.status = Payment.Status.FAILED
        payment.save(update_fields=["status"])
    return made


def built(site, days: int = DAYS + 2) -> None:
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=days), site))


def assert_all_same_as_raw(site) -> None:
    for first, last in RANGES:
        q = query(site, START + dt.timedelta(days=first), START + dt.timedelta(days=last))
        assert_same_as_raw(q)
        assert_goals_same_as_raw(q)


def test_facts_are_copied_once_the_sessions_day_is_built(site):
    built(site, days=11)
    days = dict(RollupDay.objects.filter(site=site).values_list("day", "pk"))
    tz = site.tzinfo
    attributed = Payment.objects.filter(site=site, session__isnull=False).select_related(
        "session", "matched_view"
    )
    expected = {p.pk for p in attributed if p.session.started_at.astimezone(tz).date() in days}
    assert 0 < len(expected) < attributed.count()  # payers of later days wait for their day
    facts = PaymentFact.objects.filter(site=site)
    assert set(facts.values_list("pk", flat=True)) == expected
    for fact in facts.select_related("payment__session", "payment__matched_view"):
        session, view = fact.payment.session, fact.payment.matched_view
        assert (fact.session_id, fact.visitor_hash, fact.started_at) == (
            session.pk,
            session.visitor_hash,
            session.started_at,
        )
        assert all(getattr(fact, d) == getattr(session, d) for d in SESSION_DIMENSIONS)
        assert (fact.matched_view_id, fact.view_session_id, fact.view_at, fact.page) == (
            view.pk,
            view.session_id,
            view.created_at,
            view.page,
        )
        assert fact.rollup_day_id == days[session.started_at.astimezone(tz).date()]
    built(site)
    assert PaymentFact.objects.filter(site=site).count() == attributed.count()
    # Every goal visit of a hash with a fact is flagged as a payer's, up to the state's mark.
    payers = PaymentFact.objects.filter(site=site).values("visitor_hash")
    visits = GoalVisitor.objects.filter(site=site)
    assert visits.filter(payer=True).exists()
    assert not visits.filter(payer=False, visitor_hash__in=payers).exists()
    assert RollupState.objects.get(site=site).payers_flagged_through == max(
        visits.values_list("pk", flat=True)
    )


@postgresql_only
def test_the_dashboard_reads_its_revenue_from_facts_exactly(site):
    assert_all_same_as_raw(site)  # nothing built: every payment read through its session
    built(site, days=11)
    assert_all_same_as_raw(site)  # some payments from facts, later ones through their session
    built(site)
    assert_all_same_as_raw(site)
    # The repeat payers (40 hashes here) are counted in Python, single payers in the statement.
    q = query(site, START, START + dt.timedelta(days=DAYS - 1))
    fact = (
        PaymentFact.objects.filter(site=site, payment__created_at__gte=q.start_at, payment__net__gt=0)
        .exclude(payment__status=Payment.Status.FAILED)
        .first()
    )
    PaymentFact.objects.filter(pk=fact.pk).update(country="ZZ")
    countries = widgets.overview(replace(q)).breakdowns["country"]
    assert [row["revenue"] for row in countries if row["value"] == "ZZ"] == [fact.payment.net]
    # The frame read without its payers reads them when asked, the same ones.
    lazy, eager = revenue.payment_frame(replace(q), with_payers=False), revenue.payment_frame(replace(q))
    assert "payers" not in lazy.__dict__
    assert sorted(lazy.payers) == sorted(eager.payers) and eager.payers


@postgresql_only
def test_a_fact_that_no_longer_describes_its_payment_is_not_read(site, monkeypatch):
    built(site)
    payments = Payment.objects.filter(site=site, session__isnull=False).order_by("pk")
    # Its session's day rebuilt with another channel (as reclassify does), before the job runs again.
    first = payments[0]
    Session.objects.filter(pk=first.session_id).update(channel="Reclassified")
    local_day = first.session.started_at.astimezone(site.tzinfo).date()
    RollupDay.objects.filter(site=site, day__gte=local_day).delete()
    # Another payment attributed to another session and view.
    second = payments[1]
    other = View.objects.filter(site=site).exclude(session=second.session_id).order_by("pk")[5]
    Payment.objects.filter(pk=second.pk).update(session=other.session_id, matched_view=other)
    # Another payment attributed to another view of its session.
    third = next(p for p in payments[2:] if View.objects.filter(session=p.session_id).count() > 1)
    moved = View.objects.filter(session=third.session_id).exclude(pk=third.matched_view_id).first()
    Payment.objects.filter(pk=third.pk).update(matched_view=moved)
    assert_all_same_as_raw(site)
    # Its facts went with the day; a run that stops before copying facts leaves them missing, not stale.
    assert not PaymentFact.objects.filter(pk=first.pk).exists()
    with monkeypatch.context() as patched:
        patched.setattr(rollups, "FOLLOWERS", [])
        built(site)
    assert RollupDay.objects.filter(site=site, day=local_day).exists()
    assert not PaymentFact.objects.filter(pk=first.pk).exists()
    assert_all_same_as_raw(site)
    built(site)
    assert PaymentFact.objects.get(pk=first.pk).channel == "Reclassified"
    assert PaymentFact.objects.get(pk=second.pk).session_id == other.session_id
    assert (
        PaymentFact.objects.get(pk=third.pk).matched_view_id,
        PaymentFact.objects.get(pk=third.pk).page,
    ) == (
        moved.pk,
        moved.page,
    )
    assert_all_same_as_raw(site)
    # Retention deletes the oldest page views, a payment's view among them: the payment keeps its
    # session and loses the view.
    oldest = (
        Payment.objects.filter(site=site, matched_view__isnull=False)
        .order_by("matched_view__created_at")
        .first()
    )
    View.objects.filter(site=site, created_at__lte=oldest.matched_view.created_at).delete()
    built(site)
    assert PaymentFact.objects.get(pk=oldest.pk).matched_view_id is None
    assert_all_same_as_raw(site)
