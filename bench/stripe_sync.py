"""Benchmark: Stripe API calls per 1,000 imported payments, against the fake Stripe server.

Seeds a realistic mix (one-off payments tagged on the PaymentIntent, hosted Checkout and Payment
Links, invoices (some paid in several parts, some by a bare charge, some 40 days after they were
created), subscriptions with renewals, customer-level tags, Charges-API charges tagged on the Charge,
untagged payments, refunds, debits that fail after succeeding, disputes lost, won and appealed), runs
the real sync at the live request-rate ceiling, and prints calls per 1,000 payments and wall time for
the first import, then the calls of an incremental sync with nothing new (targets: < 30 per 1,000, < 3).

    .venv/bin/python bench/stripe_sync.py [--payments 10000] [--database-url URL]
"""

import argparse
import json
import multiprocessing
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(fake, port: int) -> None:
    from revenue.fakestripe import FakeStripeServer

    with FakeStripeServer(fake, port=port):
        while True:
            time.sleep(3600)


def _wait_until_up(control, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            control.stats()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def seed(fake, payments: int, rng: random.Random, now: int) -> int:
    """Create about ``payments`` charges over 80 days; returns the number of succeeded charges."""
    made = 0
    span = 80 * 86400
    tag = {"humblytics_view_id": "benchViewIdAAAAAAAAAAAA"}
    while made < payments:
        created = now - rng.randrange(span)
        roll = rng.random()
        if roll < 0.2:
            # A subscription with monthly renewals up to now.
            customer = fake.create_customer(metadata=tag if rng.random() < 0.3 else None, created=created)[
                "customer"
            ]
            sub = fake.create_subscription(
                customer, 1900, "usd", metadata=tag if rng.random() < 0.5 else None, created=created
            )
            made += 1
            renewal_at = created + 30 * 86400
            while renewal_at < now and made < payments:
                fake.renew_subscription(sub["subscription"], created=renewal_at)
                made += 1
                renewal_at += 30 * 86400
        elif roll < 0.45:
            fake.create_checkout_payment(4900, "usd", session_metadata=tag, created=created)
            made += 1
        elif roll < 0.5:
            customer = fake.create_customer(created=created)["customer"]
            fake.create_invoice_payment(customer, 9900, "usd", invoice_metadata=tag, created=created)
            made += 1
        elif roll < 0.53:
            # Net-30 and dunning: paid in two or three parts (one maybe by a bare charge), weeks later.
            customer = fake.create_customer(created=created - 40 * 86400)["customer"]
            invoice = fake.create_invoice(
                customer, 30_000, "usd", invoice_metadata=tag, created=created - 40 * 86400
            )["invoice"]
            fake.pay_invoice(invoice, amount=10_000, created=created)
            fake.pay_invoice(invoice, amount=10_000, with_charge=rng.random() < 0.5, created=created + 60)
            fake.pay_invoice(invoice, created=created + 120)
            made += 3
        elif roll < 0.55:
            fake.create_charge(2900, "usd", metadata=tag, created=created)
            made += 1
        elif roll < 0.65:
            customer = fake.create_customer(metadata=tag, created=created)["customer"]
            fake.create_payment(2900, "usd", customer=customer, created=created)
            made += 1
        elif roll < 0.7:
            fake.create_payment(2900, "eur", settlement_currency="usd", exchange_rate=1.08, created=created)
            made += 1
        elif roll < 0.72:
            fake.create_checkout_payment(
                4900,
                "usd",
                client_reference_id=tag["humblytics_view_id"],
                payment_link="plink_bench",
                created=created,
            )
            made += 1
        elif roll < 0.73:
            ids = fake.create_payment(5000, "usd", metadata=tag, created=created)
            made += 1
            if created + 4 * 86400 < now:
                fake.fail_payment(ids["charge"], created=created + 4 * 86400)
        elif roll < 0.74:
            ids = fake.create_payment(5000, "usd", metadata=tag, created=created)
            made += 1
            dispute_ = fake.dispute(ids["charge"], created=created + 86400)["dispute"]
            outcome = rng.choice(["open", "won", "lost", "appeal"])
            if outcome != "open":
                fake.close_dispute(
                    dispute_, "won" if outcome == "won" else "lost", created=created + 2 * 86400
                )
            if outcome == "appeal":
                fake.appeal_dispute(dispute_, created=created + 3 * 86400)
        else:
            ids = fake.create_payment(
                2900, "usd", metadata=tag if rng.random() < 0.85 else None, created=created
            )
            made += 1
            if rng.random() < 0.05:
                fake.refund(ids["charge"], amount=1000, created=created + 3600)
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument(
        "--rate", type=int, default=20, help="client-side requests/s ceiling (live default 20)"
    )
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="hmbl-bench-")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
    os.environ["STRIPE_REQUESTS_PER_SECOND_TEST"] = str(args.rate)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humblytics.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        # A throwaway database so the benchmark never touches real data.
        from django.test.utils import setup_databases

        setup_databases(verbosity=0, interactive=False)
    else:
        call_command("migrate", verbosity=0)

    from django.contrib.auth import get_user_model

    from revenue.connections import connect_stripe
    from revenue.fakestripe import FakeStripe, FakeStripeControl
    from revenue.models import Payment
    from revenue.sync import sync_connection
    from tracking.sites import create_site

    key = "sk_test_benchmark4242"
    fake = FakeStripe(keys={key: None})
    rng = random.Random(7)
    now = int(time.time())
    charges = seed(fake, args.payments, rng, now)
    user = get_user_model().objects.create_user("bench")
    site = create_site(user, name="Bench", domain="bench.example")
    # The fake runs in its own process (forked with the seeded state) so its work does not share
    # this process's interpreter lock: what is timed is the sync, not the fake.
    port = _free_port()
    server_process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(fake, port), daemon=True
    )
    server_process.start()
    url = f"http://127.0.0.1:{port}"
    control = FakeStripeControl(url)
    _wait_until_up(control)
    try:
        settings.STRIPE_API_BASE = url
        connection_row = connect_stripe(site, key)
        control.call("reset_stats")
        started = time.perf_counter()
        run = sync_connection(connection_row.pk)
        elapsed = time.perf_counter() - started
        stats = control.stats()
        control.call("reset_stats")
        noop = sync_connection(connection_row.pk)
        noop_calls = control.stats()["requests"]
    finally:
        server_process.terminate()
        server_process.join(timeout=10)
    imported = Payment.objects.count()
    per_1000 = stats["requests"] / imported * 1000 if imported else float("nan")
    print(
        f"stripe sync: {imported} payments imported ({charges} seeded), run status {run.status} {run.error}"
    )
    print(f"  API calls: {stats['requests']} ({run.api_calls} counted by the client), pages {run.pages}")
    print(f"  calls per 1,000 payments: {per_1000:.1f}   (target < 30; floor ≈ 10)")
    print(f"  wall time: {elapsed:.1f} s at ≤ {args.rate} requests/s   (target < 60 s)")
    print(
        f"  incremental sync with nothing new: {noop_calls} API calls ({noop.kind}, {noop.status})"
        "   (target < 3)"
    )
    by_kind: dict[str, int] = {}
    for path, count in stats["by_path"].items():
        parts = path.split("/")
        kind = "/".join(parts[:3]) + ("/{id}" if len(parts) > 3 else "")
        by_kind[kind] = by_kind.get(kind, 0) + count
    for kind, count in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"    {kind:32s} {count}")
    result = {
        "payments": imported,
        "api_calls": stats["requests"],
        "calls_per_1000": round(per_1000, 1),
        "calls_per_1000_target": 30,
        "seconds": round(elapsed, 1),
        "seconds_target": 60,
        "incremental_noop_calls": noop_calls,
        "incremental_noop_calls_target": 3,
        "requests_per_second_ceiling": args.rate,
        "database": connection.vendor,
    }
    print("RESULT", result)
    results_path = ROOT / "bench" / "results.json"
    merged = json.loads(results_path.read_text()) if results_path.exists() else {}
    merged["stripe_sync"] = result
    results_path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
