"""Custom events per (name, visitor hash), read once per Query and shared by the Goals panel's parts
(``humblytics.reports.goals``): the Events list, the event goals and the revenue of their payers."""

from django.db.models import Count

from humblytics.reports.hashes import among, hash_chunks
from humblytics.reports.query import Query
from tracking.models import CustomEvent


def filtered(q: Query) -> list[tuple[str, str, int]]:
    """``(name, hash, events)`` of a filtered range's custom events (read once per Query)."""
    return _rows(q, q, "event_rows")


def was_read(q: Query) -> bool:
    """Whether ``filtered`` read this Query's rows already (a filter a slice serves reads its Events list
    from the slice: then its payers' hits are cheaper looked up than all its rows read)."""
    return "event_rows" in q.memo


def of_tail(q: Query, tail: Query) -> list[tuple[str, str, int]]:
    """``(name, hash, events)`` of the tail's custom events (read once per Query)."""
    return _rows(q, tail, "tail_event_rows")


def _rows(q: Query, source: Query, key: str) -> list[tuple[str, str, int]]:
    """``(name, hash, events)`` of ``source``'s custom events, kept in ``q.memo[key]``."""
    if key not in q.memo:
        rows = source.events().values_list("name", "visitor_hash").annotate(n=Count("id")).order_by()
        q.memo[key] = list(rows)
    return q.memo[key]


def earlier_pairs(q: Query, tail: Query) -> set[tuple[str, str]]:
    """``(name, hash)`` of the range's custom events before the tail, by the hashes of the tail's events:
    one pass over the range's events (read once per Query), for the Events list and the event goals."""
    if "earlier_event_pairs" not in q.memo:
        hashes = sorted({visitor_hash for _, visitor_hash, _ in of_tail(q, tail)})
        built_from, built_to = q.built_window()
        earlier = CustomEvent.objects.filter(
            site=q.site, created_at__gte=built_from, created_at__lt=built_to, **q.slice_lookups("session")
        )
        seen: set[tuple[str, str]] = set()
        for chunk in hash_chunks(hashes):
            pairs = earlier.filter(among("visitor_hash", chunk)).values_list("name", "visitor_hash")
            seen.update(pairs.distinct())
        q.memo["earlier_event_pairs"] = seen
    return q.memo["earlier_event_pairs"]
