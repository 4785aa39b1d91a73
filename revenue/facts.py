"""Payment facts: an attributed payment's session and view values, copied beside it once the session's
day is built (``PaymentFact``), so the dashboard's revenue of a year (``humblytics.reports.revenue``)
reads the range's payments and their facts instead of joining them to every session and view of the
site. At 10 million views a year that join hashed all 3.5 million sessions (2.2 s of a 4.8 s dashboard).

The rollup job (``tracking.rollups.roll_up_site``) calls ``build`` after the traffic days (registered
in ``revenue.apps``). A fact is copied only from a session whose local start day is built, so its
values are as final as that day's rollups (a view stored hours late may still extend such a session:
the day's ``DailyRollup`` rows keep the older exit page too), and belongs to that day's ``RollupDay``: a
day forgotten or rebuilt (``reclassify``, late rows, retention, a new time zone) deletes its facts in
the same transaction, and they are copied again once it is built. A fact of a payment whose
attribution changed since (another session or view, or none) is forgotten and copied again; the reader
checks that too, so it never reads a stale fact between two runs.
"""

import zoneinfo

from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q

from revenue.models import Payment, PaymentFact
from tracking.dimensions import SESSION_DIMENSIONS
from tracking.models import GoalVisitor, RollupDay, RollupState, Session, Site, View
from tracking.rolldays import analyze, chunks

ANALYZE_AFTER = 1000  # a run that wrote more facts than this refreshes the table's statistics
_SESSION_FIELDS = ("id", "visitor_hash", "started_at", *SESSION_DIMENSIONS)


def current(facts):
    """Those of ``facts`` that still describe their payment: the same session and view. (A fact of a
    day forgotten or rebuilt since was deleted with it.)"""
    same_view = Q(payment__matched_view_id=F("matched_view_id")) | Q(
        payment__matched_view__isnull=True, matched_view_id__isnull=True
    )
    return facts.filter(same_view, payment__session_id=F("session_id"))


def build(site: Site, tz: zoneinfo.ZoneInfo) -> int:
    """Forget the site's stale facts and copy the missing ones whose session's day is built. Returns the
    facts written."""
    facts = PaymentFact.objects.filter(site=site)
    facts.exclude(pk__in=current(facts).values("pk")).delete()
    built = {day: pk for pk, day in RollupDay.objects.filter(site=site).values_list("pk", "day")}
    if not built:
        _flag_new_goal_visitors(site)
        return 0
    missing = list(
        Payment.objects.filter(site=site, session__isnull=False, fact__isnull=True)
        .order_by("pk")
        .values_list("pk", "session_id", "matched_view_id")
    )
    written = 0
    for chunk in chunks(missing):
        sessions = {
            row["id"]: row
            for row in Session.objects.filter(pk__in={session_id for _, session_id, _ in chunk}).values(
                *_SESSION_FIELDS
            )
        }
        views = {
            pk: (session_id, created_at, page)
            for pk, session_id, created_at, page in View.objects.filter(
                pk__in={view_id for _, _, view_id in chunk if view_id is not None}
            ).values_list("pk", "session_id", "created_at", "page")
        }
        rows = []
        for payment_id, session_id, view_id in chunk:
            session = sessions.get(session_id)
            if session is None:
                continue
            day = session["started_at"].astimezone(tz).date()
            if day not in built:
                continue  # its values may still change (an open session, a day not settled)
            if view_id is not None and view_id not in views:
                continue  # the view was just deleted: the payment loses it too
            view_session_id, view_at, page = views.get(view_id, (None, None, ""))
            rows.append(
                PaymentFact(
                    payment_id=payment_id,
                    site=site,
                    session_id=session_id,
                    matched_view_id=view_id,
                    rollup_day_id=built[day],
                    visitor_hash=session["visitor_hash"],
                    started_at=session["started_at"],
                    view_session_id=view_session_id,
                    view_at=view_at,
                    page=page,
                    **{dimension: session[dimension] for dimension in SESSION_DIMENSIONS},
                )
            )
        try:
            with transaction.atomic():
                PaymentFact.objects.bulk_create(rows)
                # Their hashes' goal visits so far are a payer's (later ones: _flag_new_goal_visitors).
                hashes = {fact.visitor_hash for fact in rows}
                GoalVisitor.objects.filter(site=site, visitor_hash__in=hashes, payer=False).update(payer=True)
        except IntegrityError:
            break  # a day forgotten meanwhile (``reclassify`` runs beside the job): copied next run
        written += len(rows)
    _flag_new_goal_visitors(site)
    if written > ANALYZE_AFTER:
        analyze([PaymentFact, GoalVisitor])
    return written


def _flag_new_goal_visitors(site: Site) -> None:
    """Flag the goal visits written since the last run (``GoalVisitor`` ids above the state's
    ``payers_flagged_through``) whose hash has a payment fact, then move the mark to them. Readers take
    rows above the mark as unflagged: revenue of converting visitors reads a payer's goal visits as the
    flagged rows and those, never one hash at a time (``humblytics.reports.payment_facts``)."""
    state = RollupState.objects.filter(site=site).first()
    if state is None:
        return
    newest = GoalVisitor.objects.filter(site=site).aggregate(newest=Max("pk"))["newest"] or 0
    if newest <= state.payers_flagged_through:
        return
    with transaction.atomic():
        payers = PaymentFact.objects.filter(site=site).values("visitor_hash")
        GoalVisitor.objects.filter(
            site=site,
            pk__gt=state.payers_flagged_through,
            pk__lte=newest,
            payer=False,
            visitor_hash__in=payers,
        ).update(payer=True)
        RollupState.objects.filter(pk=state.pk).update(payers_flagged_through=newest)
