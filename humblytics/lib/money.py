"""Money is an integer in the currency's smallest unit plus an ISO code; this formats it."""

from decimal import Decimal

# Stripe's zero-decimal and three-decimal currencies (docs.stripe.com/currencies).
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "krw": "₩", "cny": "¥", "brl": "R$"}


def exponent(currency: str) -> int:
    code = (currency or "").lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_major(amount: int | float, currency: str) -> Decimal:
    return Decimal(str(amount)).scaleb(-exponent(currency))


def format_money(amount: int | float | None, currency: str) -> str:
    """``format_money(123456, "usd")`` → ``$1,234.56``; ``format_money(5000, "jpy")`` → ``¥5,000``."""
    if amount is None:
        return "—"
    code = (currency or "").lower()
    places = exponent(code)
    value = to_major(amount, code)
    text = f"{abs(value):,.{places}f}"
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(code)
    if symbol:
        return f"{sign}{symbol}{text}"
    return f"{sign}{text} {code.upper()}"
