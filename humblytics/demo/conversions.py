"""Which demo visits bought, decided from the stored views alone.

That matters because the fake Stripe keeps its state in memory: on a later ``make run`` it starts
empty, and replaying the same plan into it recreates the very same Stripe ids (the fake numbers them
in creation order), so the next sync finds nothing new instead of failing on a cursor that no longer
exists or importing doubles.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from humblytics.demo.shop import SEED, TEST_PAGE, TEST_VARIANT_PAGE
from tracking.models import Site, View


@dataclass
class Conversion:
    view_id: str
    at: int  # unix seconds of the payment
    country: str
    variant: str


def conversions(site: Site) -> tuple[list[Conversion], int]:
    """Which visits bought, decided from the stored views alone (see the module docstring).

    Returns the conversions, oldest first, and the anchor: the newest view's time, after which no
    payment, renewal, refund or dispute is dated.
    """
    rng = random.Random(SEED + 1)
    rows = (
        View.objects.filter(site=site, page__in=("/checkout", TEST_PAGE, TEST_VARIANT_PAGE))
        .order_by("created_at", "view_id")
        .values_list("view_id", "page", "created_at", "variant", "session_id", "session__country")
    )
    last_view = (
        View.objects.filter(site=site).order_by("-created_at").values_list("created_at", flat=True).first()
    )
    if last_view is None:
        return [], 0
    anchor = int(last_view.timestamp())
    session_variant: dict[int, str] = {}
    pricing_view: dict[int, tuple[str, dt.datetime, str]] = {}
    decided: set[int] = set()
    result = []
    for view_id, page, created_at, variant, session_id, country in rows:
        if page != "/checkout":
            session_variant.setdefault(session_id, variant)
            pricing_view.setdefault(session_id, (view_id, created_at, country))
            continue
        if session_id in decided:
            continue
        decided.add(session_id)
        variant = session_variant.get(session_id, "")
        chance = {"": 0.32, "control": 0.3, "b": 0.34}[variant]
        if rng.random() < chance:
            # Some shops tag the pricing view the visitor came from rather than the checkout view.
            tagged = view_id
            if session_id in pricing_view and rng.random() < 0.2:
                tagged = pricing_view[session_id][0]
            result.append(
                Conversion(tagged, int(created_at.timestamp()) + rng.randint(120, 540), country, variant)
            )
    # A few buy later by invoice after only reading the pricing page ("contact sales").
    for session_id, (view_id, created_at, country) in sorted(
        pricing_view.items(), key=lambda item: item[1][1]
    ):
        if session_id not in decided and rng.random() < 0.012:
            at = int(created_at.timestamp()) + rng.randint(600, 3600)
            result.append(Conversion(view_id, at, country, session_variant.get(session_id, "")))
    result = sorted((c for c in result if c.at <= anchor), key=lambda c: (c.at, c.view_id))
    return result, anchor
