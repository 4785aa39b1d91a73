"""Benchmark: page-view POSTs stay prompt while heavy dashboards render (PostgreSQL, production servers).

Uses the large site of ``bench/dashboard.py`` (run it first: ``make bench`` does). Starts the
README's production layout: one granian for ingest (``/api/event``, ``/hmbl.min.js``) and one for
everything else, both with production settings, on the dashboard benchmark's database. Then, in the
same window, at a fixed ``--rate`` of page views per second (open loop: latency from each request's
scheduled time):

1. POSTs alone (the baseline);
2. POSTs while ``--dashboards`` browsers each load 12-month dashboards with one filter, back to back;
3. the same with one shared granian serving both (the layout this replaces), for contrast.

Prints the POST p50/p99 of each beside the target (p99 < 50 ms while two filtered 12-month
dashboards run), the dashboards' own times, and merges an ``"isolation"`` section into
``bench/results.json``.

    .venv/bin/python bench/isolation.py [--rate 100] [--seconds 20] [--dashboards 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import HOST, Server, make_events, run_paced  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/humblytics_bench_dash"
TARGET_P99_MS = 50.0
FILTERS = ("country:US", "device:mobile", "channel:Organic Search", "browser:Chrome")


def server_args(workers: int) -> argparse.Namespace:
    return argparse.Namespace(granian_workers=workers, granian_threads=1, granian_backpressure=64)


def login_cookie(secret_key: str) -> tuple[str, str]:
    """A session for the large site's owner, signed with the servers' SECRET_KEY; (cookie, site id)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from tracking.models import Site

    settings.SECRET_KEY = secret_key
    site = Site.objects.filter(domain="large.example").order_by("-pk").first()
    if site is None:
        raise SystemExit("no large site: run bench/dashboard.py first")
    user = site.memberships.first().user
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}", site.public_id


def load_dashboards(port: int, cookie: str, site_id: str, stop: threading.Event, index: int, times: list):
    """One browser loading filtered 12-month dashboards back to back until ``stop``."""
    rng = random.Random(index)
    while not stop.is_set():
        query = f"period=12mo&filter={rng.choice(FILTERS).replace(' ', '+')}&compare=none"
        started = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        try:
            conn.request("GET", f"/sites/{site_id}/?{query}", headers={"Cookie": cookie, "Host": HOST})
            response = conn.getresponse()
            response.read()
            times.append(((time.perf_counter() - started) * 1000, response.status))
        except OSError:
            times.append(((time.perf_counter() - started) * 1000, 0))
        finally:
            conn.close()


def measure(ingest_port: int, web_port: int | None, events, args, cookie, site_id, prefix) -> dict:
    stop = threading.Event()
    times: list = []
    browsers = [
        threading.Thread(target=load_dashboards, args=(web_port, cookie, site_id, stop, i, times))
        for i in range(args.dashboards if web_port else 0)
    ]
    for browser in browsers:
        browser.start()
    if browsers:
        time.sleep(2)  # the dashboards are rendering when the beacons start
    try:
        posts = run_paced(ingest_port, events, prefix, args.rate, args.seconds)
    finally:
        stop.set()
        for browser in browsers:
            browser.join()
    result = {"posts": posts}
    if times:
        result["dashboards"] = {
            "loaded": len(times),
            "statuses": sorted({status for _, status in times}),
            "median_ms": round(statistics.median(ms for ms, _ in times)),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DASHBOARD_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--rate", type=int, default=100, help="page views per second")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--dashboards", type=int, default=2)
    args = parser.parse_args()
    from cryptography.fernet import Fernet

    secret = "bench-" + Fernet.generate_key().decode()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "humblytics.settings",
        "DEBUG": "false",
        "SECRET_KEY": secret,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": args.database_url,
        "ALLOWED_HOSTS": HOST,
        "TRUSTED_PROXY_COUNT": "1",
        "INGEST_RATE_PER_IP": "0",
        "INGEST_RATE_PER_SITE": "0",
        "INGEST_SPOOL_DIR": tempfile.mkdtemp(prefix="hmbl-bench-spool-"),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "PYTHONWARNINGS": "ignore:No directory at",
    }
    env.pop("REDIS_URL", None)
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # Production serves pages with hashed static file names: the manifest must exist, as after a deploy.
    call_command("collectstatic", interactive=False, verbosity=0)
    cookie, site_id = login_cookie(secret)
    rng = random.Random(20261206)
    events = [
        (ua, ip, body.replace("@@SITE@@", site_id).replace("bench.example", "large.example"))
        for ua, ip, body in make_events(args.rate * args.seconds * 3 + 100, 20_000, rng)
    ]
    load = os.getloadavg()[0]
    results: dict = {"rate": args.rate, "seconds": args.seconds, "dashboards": args.dashboards}
    with (
        Server("granian", "humblytics.wsgi:application", env, server_args(1)) as ingest,
        Server("granian", "humblytics.wsgi:application", env, server_args(1)) as web,
    ):
        results["alone"] = measure(ingest.port, None, events, args, cookie, site_id, "isoa")
        results["separate"] = measure(ingest.port, web.port, events, args, cookie, site_id, "isob")
    with Server("granian", "humblytics.wsgi:application", env, server_args(2)) as shared:
        results["shared"] = measure(shared.port, shared.port, events, args, cookie, site_id, "isoc")
    results["load_before"] = round(load, 2)
    results["load_after"] = round(os.getloadavg()[0], 2)
    report(results)
    path = ROOT / "bench" / "results.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged["isolation"] = {**results, "target_p99_ms": TARGET_P99_MS, "measured_at": time.strftime("%FT%TZ")}
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


def report(results: dict) -> None:
    print(f"\nPOST /api/event at {results['rate']}/s, {results['dashboards']} filtered 12-month dashboards")
    print(f"(load average {results['load_before']} before, {results['load_after']} after)")
    print(f"{'layout':44s} {'p50 ms':>8s} {'p99 ms':>8s} {'dashboards':>18s}")
    for key, label in (
        ("alone", "ingest process, no dashboards"),
        ("separate", "ingest process + web process (README)"),
        ("shared", "one shared pool of 2 workers (contrast)"),
    ):
        run = results[key]
        dashboards = run.get("dashboards")
        shown = f"{dashboards['loaded']} x {dashboards['median_ms']} ms" if dashboards else "—"
        if dashboards and not set(dashboards["statuses"]) <= {200, 503}:
            raise SystemExit(f"dashboards answered {dashboards['statuses']}: the figures mean nothing")
        verdict = ""
        if key == "separate":
            verdict = "ok" if run["posts"]["p99_ms"] < TARGET_P99_MS else "MISSED"
            verdict = f"target p99 < {TARGET_P99_MS:g} ms: {verdict}"
        print(
            f"{label:44s} {run['posts']['p50_ms']:8.1f} {run['posts']['p99_ms']:8.1f} {shown:>18s}  {verdict}"
        )


if __name__ == "__main__":
    main()
