"""`python -m revenue.fakestripe --port 12111`: serve a fake Stripe in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import FakeStripeServer
from .state import FakeStripe

DEFAULT_KEY = "sk_test_demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m revenue.fakestripe", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--key", action="append", default=[], help=f"full-access key (default {DEFAULT_KEY})")
    parser.add_argument(
        "--restricted-key",
        action="append",
        default=[],
        metavar="KEY=PERM,PERM",
        help="restricted key with its rak_* permissions",
    )
    parser.add_argument("--livemode", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    keys: dict[str, set[str] | None] = dict.fromkeys(args.key)
    for spec in args.restricted_key:
        key, _, permissions = spec.partition("=")
        keys[key] = {p for p in permissions.split(",") if p}
    if not keys:
        keys[DEFAULT_KEY] = None

    state = FakeStripe(keys=keys, livemode=args.livemode)
    server = FakeStripeServer(state, args.host, args.port, args.verbose)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    server.start()
    print(server.url, flush=True)
    print(f"fake Stripe serving keys: {', '.join(keys)}", file=sys.stderr, flush=True)
    stopping.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
