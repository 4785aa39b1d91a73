"""Country names and flags for ISO 3166-1 alpha-2 codes, from pycountry (the iso-codes data Debian
maintains). Reports keep the code: it is what filters and the API use; only the page shows a name."""

import functools

import pycountry

_REGIONAL_INDICATOR_A = 0x1F1E6


@functools.lru_cache(maxsize=512)
def country_name(code: str) -> str:
    """``DE`` → ``Germany``; the code itself when it is not an assigned one (``XX``, ``EU``)."""
    country = pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else None
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


def flag(code: str) -> str:
    """The flag emoji: two regional-indicator letters (``DE`` → 🇩🇪); empty for anything else."""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(_REGIONAL_INDICATOR_A + ord(letter) - ord("A")) for letter in code.upper())
