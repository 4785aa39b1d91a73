"""The demo shop every demo module draws on: its login, its site, the page under test and the seed."""

from collections.abc import Callable

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-humblytics"
DEMO_EMAIL = "demo@example.com"
DEMO_SITE_NAME = "Demo Shop"
DEMO_DOMAIN = "shop.example.com"
DEMO_TIMEZONE = "Europe/Berlin"
# The fake serves any key it is started with; check_key wants 8+ characters after the prefix.
DEMO_STRIPE_KEY = "sk_test_humblyticsdemo"
SEED = 20_250_401
TEST_NAME = "Pricing page: annual plan first"
TEST_PAGE = "/pricing"
TEST_VARIANT_PAGE = "/pricing-b"

Log = Callable[[str], None]
