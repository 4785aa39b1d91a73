"""Why a pasted string cannot be a Stripe secret or restricted key, said so a person can fix it (the
shape is checked before any call to Stripe)."""

import re

_KEY_PREFIX_RE = re.compile(r"^(sk|rk)_(live|test)_")
_KEY_BODY_RE = re.compile(r"^(sk|rk)_(live|test)_[A-Za-z0-9]{8,247}$")
_OTHER_KEYS = {
    "pk_": "That is a publishable key (pk_…), which can only create payments. Humblytics needs a secret key "
    "(sk_…) or, better, a restricted key (rk_…) with read access.",
    "whsec_": "That is a webhook signing secret (whsec_…). Humblytics needs no webhook: paste a secret key "
    "(sk_…) or a restricted key (rk_…) from Developers → API keys.",
}


def explain_key_shape(key: str) -> str | None:
    """A human reason why ``key`` cannot be a Stripe secret or restricted key, or None when it could be."""
    if _KEY_BODY_RE.match(key):
        return None
    for prefix, message in _OTHER_KEYS.items():
        if key.startswith(prefix):
            return message
    match = _KEY_PREFIX_RE.match(key)
    if match:
        prefix = match.group(0)
        body = key[len(prefix) :]
        if not body.isalnum():
            return (
                f"The key starts well ({prefix}) but has characters Stripe keys never contain (spaces, "
                "dots, quotes…). Copy it again with the Copy button in the Stripe Dashboard."
            )
        return (
            f"This key is too short to be complete: after {prefix} a Stripe key has dozens of letters and "
            "digits. Copy the whole key from the Stripe Dashboard → Developers → API keys."
        )
    return (
        "This is not a Stripe secret or restricted key: those start with sk_live_, sk_test_, rk_live_ or "
        "rk_test_. Find them in the Stripe Dashboard → Developers → API keys."
    )
