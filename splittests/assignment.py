"""Variant assignment, decided on the server when the script is served (no cookie, no storage).

User-level: a keyed hash of today's cookie-free visitor hash and the test picks the variant, so the
same visitor gets the same variant all day (the visitor hash itself changes daily, by design).
Session-level: the variant already shown in the visitor's open session is kept; a new visit draws
afresh at random.
"""

import hashlib
import secrets
from collections.abc import Sequence

SCALE = 2**64


def unit_interval(*parts: str) -> float:
    """A stable number in [0, 1) from the given parts."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / SCALE


def pick(weighted: Sequence[tuple[str, int]], unit: float) -> str:
    """The key whose share of the total weight covers ``unit``. Weights must sum above zero."""
    total = sum(weight for _, weight in weighted)
    if total <= 0:
        raise ValueError("variant weights must sum above zero")
    point = unit * total
    running = 0
    for key, weight in weighted:
        running += weight
        if point < running:
            return key
    return weighted[-1][0]


def assign_user_level(test_id: int, visitor_hash: str, weighted: Sequence[tuple[str, int]]) -> str:
    return pick(weighted, unit_interval("user", str(test_id), visitor_hash))


def assign_session_level(existing: str | None, weighted: Sequence[tuple[str, int]]) -> str:
    keys = {key for key, _ in weighted}
    if existing in keys:
        return existing
    return pick(weighted, secrets.randbelow(SCALE) / SCALE)
