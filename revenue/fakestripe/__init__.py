"""A stateful fake of the Stripe API (endive shapes) for tests and the demo, standard library only."""

from .api import PERMISSIONS
from .control import FakeStripeControl, FakeStripeControlError
from .server import FakeStripeServer
from .state import FakeStripe, NotFound

__all__ = [
    "PERMISSIONS",
    "FakeStripe",
    "FakeStripeControl",
    "FakeStripeControlError",
    "FakeStripeServer",
    "NotFound",
]
