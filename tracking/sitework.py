"""Scheduled work done site by site (retention, rollups), isolated so one site's failure never stops
another's: each failure is logged with its traceback, the other sites still run, and the task then
fails naming the sites, so django-q2 records it and retries (the work is idempotent)."""

import logging
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)


class SiteWorkFailed(Exception):
    """Some sites' work failed (each logged); every other site's was done."""

    def __init__(self, what: str, site_ids: list[int]):
        shown = ", ".join(str(site_id) for site_id in site_ids[:20])
        super().__init__(f"{what} failed for {len(site_ids)} site(s) (ids {shown}); the others ran")
        self.site_ids = site_ids


def for_each_site(what: str, site_ids: Iterable[int], work: Callable[[int], int]) -> int:
    """Run ``work(site_id)`` for every site and return the sum of its results.

    Raises ``SiteWorkFailed`` after the last site when any raised.
    """
    total = 0
    failed: list[int] = []
    for site_id in site_ids:
        try:
            total += work(site_id)
        except Exception:
            logger.exception("%s failed for site id %s; going on with the other sites", what, site_id)
            failed.append(site_id)
    if failed:
        raise SiteWorkFailed(what, failed)
    return total
