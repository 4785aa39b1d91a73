"""Benchmark: the ingest hot path (`POST /api/event`) through the production servers, on PostgreSQL.

For each server (gunicorn, granian) it starts the production WSGI application with production
settings (DEBUG off, secrets set) on 127.0.0.1 against a throwaway PostgreSQL database it creates
and drops (``humblytics_bench``), and loads it from separate processes:

* ceilings, on the same server and settings (``bench/ceiling_app.py``): a Django view that parses
  the body and answers 202, and the same view plus one INSERT;
* the full pipeline at maximum load (``wrk``, realistic bodies: varied pages, referrers, UTM tags,
  real browser user agents, 20,000 visitors told apart by ``X-Forwarded-For``);
* the full pipeline at a fixed 500 events/s (an open-loop asyncio client in this process: latency
  is measured from each request's scheduled time, so a stall is not hidden);
* the full pipeline at maximum load with custom events mixed in (``wrk``, 3 page views : 1 event, each
  event on the view its thread sent just before, the way ``Humblytics.track`` follows a page view), on a
  fresh server: stored views + events per second against the same 2,000/s target, and how many events
  found their view at once or after the linking pass;

then stops the server gracefully and counts the stored rows against the 202 answers. It prints a
table with each figure beside its target and merges an ``"ingest"`` section into
``bench/results.json``. Bounded in time (about 2 minutes with the defaults); needs ``wrk``
(``apt-get install wrk``) and a PostgreSQL server it may create databases on.

    .venv/bin/python bench/ingest.py [--servers gunicorn,granian] [--duration 10] [--paced-duration 15]
    .venv/bin/python bench/ingest.py --mixed-only   # only the run with custom events ("ingest_mixed")
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent

HOST = "127.0.0.1"
DOMAIN = "bench.example"
TARGET_EVENTS_PER_SECOND = 2000
TARGET_CEILING_RATIO = 0.7
TARGET_P50_MS = 5.0
TARGET_P99_MS = 10.0  # at 500 events/s
TARGET_BUFFERED_RATIO = 0.5  # stored events/s ÷ the buffered executemany ceiling, same window
TARGET_MIXED_PER_SECOND = 2000  # stored page views + custom events per second, 3 views : 1 event
VIEWS_PER_EVENT = 3

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.7 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
]
PAGES = [
    "/",
    "/pricing",
    "/features",
    "/features/attribution",
    "/features/split-tests",
    "/blog",
    "/blog/cookie-free-analytics",
    "/blog/stripe-revenue-attribution",
    "/blog/what-is-a-bounce-rate",
    "/docs",
    "/docs/install",
    "/docs/api",
    "/about",
    "/contact",
    "/signup",
    "/login",
    "/checkout",
    "/checkout/success",
    "/changelog",
    "/customers",
]
REFERRERS = [
    "",
    "",
    "",
    "https://www.google.com/",
    "https://www.google.de/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://news.ycombinator.com/",
    "https://t.co/abc123",
    "https://www.reddit.com/r/analytics/comments/xyz/",
    "https://www.linkedin.com/feed/",
    "https://github.com/someone/awesome-analytics",
    f"https://{DOMAIN}/pricing",
    f"https://{DOMAIN}/blog",
]
UTMS = [
    "utm_source=newsletter&utm_medium=email&utm_campaign=launch",
    "utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=web+analytics&gclid=Cj0KCQiA",
    "utm_source=twitter&utm_medium=social&utm_campaign=black-friday",
    "ref=producthunt",
]
WIDTHS = [375, 390, 393, 414, 768, 820, 1280, 1366, 1440, 1536, 1920, 2560]


def make_events(count: int, visitors: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(user agent, X-Forwarded-For, JSON body with an @@VIEWID@@ placeholder) per page view."""
    events = []
    for _ in range(count):
        visitor = rng.randrange(visitors)
        ip = f"{23 + visitor % 180}.{(visitor // 180) % 250 + 1}.{(visitor * 7) % 250 + 1}.{visitor % 97 + 2}"
        ua = USER_AGENTS[visitor % len(USER_AGENTS)]
        host = DOMAIN if rng.random() < 0.8 else f"www.{DOMAIN}"
        url = f"https://{host}{rng.choice(PAGES)}"
        if rng.random() < 0.2:
            url += "?" + rng.choice(UTMS)
        body = {
            "site": "@@SITE@@",
            "view_id": "@@VIEWID@@",
            "url": url,
            "referrer": rng.choice(REFERRERS),
            "screen_width": rng.choice(WIDTHS),
            "type": "pageview",
        }
        if rng.random() < 0.1:
            body["variant"] = rng.choice(["control", "b"])
        events.append((ua, ip, json.dumps(body, separators=(",", ":"))))
    return events


EVENT_NAMES = ["Signup", "Add to cart", "Outbound Link: Click", "File Download", "Play video", "Newsletter"]
PLANS = ["free", "pro", "team", "enterprise"]


def make_mixed_events(views: list[tuple[str, str, str]], rng: random.Random) -> list[tuple[str, str, str]]:
    """``VIEWS_PER_EVENT`` page views, then a custom event by the same visitor on the last of them (its
    view id written @@LASTVIEWID@@, which bench/ingest.lua fills in), and so on."""
    mixed = []
    for index, (ua, ip, body) in enumerate(views):
        mixed.append((ua, ip, body))
        if index % VIEWS_PER_EVENT == VIEWS_PER_EVENT - 1:
            event = {
                "site": "@@SITE@@",
                "view_id": "@@LASTVIEWID@@",
                "url": json.loads(body)["url"],
                "type": "event",
                "name": rng.choice(EVENT_NAMES),
                "props": {
                    "plan": rng.choice(PLANS),
                    "seats": rng.randrange(1, 50),
                    "trial": rng.random() < 0.3,
                },
            }
            mixed.append((ua, ip, json.dumps(event, separators=(",", ":"))))
    return mixed


# ---------------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_command(server: str, app: str, port: int, args: argparse.Namespace) -> list[str]:
    if server == "gunicorn":
        return [
            str(VENV_BIN / "gunicorn"),
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            str(args.gunicorn_workers),
            "--log-level",
            "warning",
            app,
        ]
    if server == "granian":
        return [
            str(VENV_BIN / "granian"),
            "--interface",
            "wsgi",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(args.granian_workers),
            "--blocking-threads",
            str(args.granian_threads),
            "--backpressure",
            str(args.granian_backpressure),
            "--no-ws",
            "--log-level",
            "warning",
            app,
        ]
    raise SystemExit(f"unknown server {server}")


class Server:
    """A server process group on loopback; stopped gracefully (SIGTERM), killed if it hangs."""

    def __init__(self, server: str, app: str, env: dict[str, str], args: argparse.Namespace):
        self.port = free_port()
        self.command = server_command(server, app, self.port, args)
        self.env = env
        self.process: subprocess.Popen | None = None
        self.url = f"http://{HOST}:{self.port}"

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited at start-up: {' '.join(self.command)}")
            try:
                urllib.request.urlopen(f"{self.url}/hmbl.min.js?id=zzzzzzz", timeout=1)
            except urllib.error.HTTPError:
                return self  # any HTTP answer (404 here) means Django is serving
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("server did not start within 30 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            print("  !! server did not stop within 40 s: killed", file=sys.stderr)
        # Whatever the server left behind (workers of a killed master) goes with its process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------------


def run_wrk(url: str, path: str, events_file: Path, prefix: str, seconds: int, connections: int) -> dict:
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "bench" / "ingest.lua"),
        url,
        "--",
        path,
        str(events_file),
        prefix,
    ]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRKJSON "))
    data = json.loads(line[len("WRKJSON ") :])
    seconds_taken = data["duration_us"] / 1e6
    return {
        "requests_per_second": round(data["requests"] / seconds_taken),
        "accepted_per_second": round(data["accepted"] / seconds_taken),
        "p50_ms": round(data["p50_us"] / 1000, 2),
        "p99_ms": round(data["p99_us"] / 1000, 2),
        "sent": data["sent"],
        "accepted": data["accepted"],
        "rejected": data["rejected"],
        "socket_errors": data["socket_errors"],
    }


async def _paced(port: int, events: list[tuple[str, str, str]], prefix: str, rate: int, seconds: int) -> dict:
    """Open loop: request i is due at start + i/rate; latency counts from when it was due."""
    total = rate * seconds
    due_queue: asyncio.Queue = asyncio.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    async def connection_worker() -> None:
        nonlocal errors
        reader = writer = None
        while True:
            item = await due_queue.get()
            if item is None:
                break
            due, index = item
            ua, xff, body = events[index % len(events)]
            payload = body.replace("@@VIEWID@@", f"{prefix}{index:016d}", 1).encode()
            request = (
                f"POST /api/event HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                f"Content-Type: text/plain;charset=UTF-8\r\nUser-Agent: {ua}\r\n"
                f"X-Forwarded-For: {xff}\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode() + payload
            for attempt in range(2):
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(HOST, port)
                    writer.write(request)
                    status_line = await reader.readline()
                    if not status_line:
                        raise ConnectionError("closed")
                    status = int(status_line.split()[1])
                    length, close = 0, False
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.decode("latin-1").partition(":")
                        if name.lower() == "content-length":
                            length = int(value)
                        elif name.lower() == "connection" and value.strip().lower() == "close":
                            close = True
                    await reader.readexactly(length)
                    latencies.append(time.perf_counter() - due)
                    statuses[status] = statuses.get(status, 0) + 1
                    if close:
                        writer.close()
                        reader = writer = None
                    break
                except (OSError, ConnectionError, ValueError, asyncio.IncompleteReadError):
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    if attempt == 1:
                        errors += 1

    workers = [asyncio.create_task(connection_worker()) for _ in range(64)]
    start = time.perf_counter() + 0.2
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        due_queue.put_nowait((due, index))
    for _ in workers:
        due_queue.put_nowait(None)
    await asyncio.wait_for(asyncio.gather(*workers), timeout=60)
    elapsed = time.perf_counter() - start
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else 0

    return {
        "rate": rate,
        "achieved_per_second": round(len(latencies) / elapsed),
        "p50_ms": round(percentile(50), 2),
        "p99_ms": round(percentile(99), 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0,
        "sent": total,
        "accepted": statuses.get(202, 0),
        "rejected": sum(count for status, count in statuses.items() if status != 202),
        "socket_errors": errors,
    }


def run_paced(port: int, events, prefix: str, rate: int, seconds: int) -> dict:
    return asyncio.run(_paced(port, events, prefix, rate, seconds))


# ---------------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------------


def admin_sql(admin_url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def prepare_database(database_url: str) -> str:
    """Migrate the fresh database, create the benchmark site and the ceiling table; the site id."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from tracking.sites import create_site

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench")
    site = create_site(user, name="Bench", domain=DOMAIN)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, site_id bigint NOT NULL,"
            " session_id bigint NOT NULL, view_id varchar(64) NOT NULL, created_at timestamptz NOT NULL,"
            " hostname varchar(253) NOT NULL, page varchar(500) NOT NULL, screen_width integer,"
            " variant varchar(64) NOT NULL, UNIQUE (site_id, view_id))"
        )
        cursor.execute("CREATE INDEX ON bench_ceiling (site_id, created_at)")
    return site.public_id


def count_rows(table: str, prefix: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE view_id LIKE %s", [prefix + "%"])  # noqa: S608
        return cursor.fetchone()[0]


def count_sessions() -> int:
    from tracking.models import Session

    return Session.objects.count()


def count_linked_events(prefix: str) -> int:
    from tracking.models import CustomEvent

    return CustomEvent.objects.filter(view_id__startswith=prefix, session__isnull=False).count()


def link_events() -> int:
    """The scheduled linking pass, run until it has nothing left (as its every-minute runs would)."""
    from django.utils import timezone

    from tracking import events

    linked = 0
    while done := events.link_events(timezone.now()):
        linked += done
    return linked


# ---------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------


def bench_server(server: str, args, env, events_file: Path, events) -> dict:
    result: dict = {"server": server, "command": None}
    print(f"== {server}", flush=True)
    with Server(server, "bench.ceiling_app:application", env, args) as srv:
        run_wrk(srv.url, "/ceiling/parse", events_file, "wparse", 2, args.connections)
        result["ceiling_parse"] = run_wrk(
            srv.url, "/ceiling/parse", events_file, f"{server[:2]}cp", args.duration, args.connections
        )
        print(f"  ceiling parse+202:  {result['ceiling_parse']}", flush=True)
        run_wrk(srv.url, "/ceiling/insert", events_file, f"{server[:2]}wi", 2, args.connections)
        prefix = f"{server[:2]}ci"
        result["ceiling_insert"] = run_wrk(
            srv.url, "/ceiling/insert", events_file, prefix, args.duration, args.connections
        )
        result["ceiling_buffered"] = run_wrk(
            srv.url, "/ceiling/buffered", events_file, f"{server[:2]}cb", args.duration, args.connections
        )
    result["ceiling_insert"]["stored"] = count_rows("bench_ceiling", prefix)
    print(f"  ceiling +1 INSERT:  {result['ceiling_insert']}", flush=True)
    print(f"  ceiling buffered executemany: {result['ceiling_buffered']}", flush=True)

    with Server(server, "humblytics.wsgi:application", env, args) as srv:
        result["command"] = " ".join(
            Path(part).name if i == 0 else part for i, part in enumerate(srv.command)
        )
        run_wrk(srv.url, "/api/event", events_file, f"{server[:2]}wp", 2, args.connections)
        result["pipeline_max"] = run_wrk(
            srv.url, "/api/event", events_file, f"{server[:2]}mx", args.duration, args.connections
        )
        print(f"  pipeline max:       {result['pipeline_max']}", flush=True)
        result["pipeline_paced"] = run_paced(
            srv.port, events, f"{server[:2]}pc", args.rate, args.paced_duration
        )
        print(f"  pipeline {args.rate}/s:   {result['pipeline_paced']}", flush=True)
    # The buffered ceiling again, right after the product: the two runs bracket it in time, and the
    # better of them is the ceiling the product is compared with (never one from a quieter moment).
    with Server(server, "bench.ceiling_app:application", env, args) as srv:
        again = run_wrk(
            srv.url, "/ceiling/buffered", events_file, f"{server[:2]}cc", args.duration, args.connections
        )
    print(f"  ceiling buffered executemany, again: {again}", flush=True)
    result["ceiling_buffered_runs"] = [
        result["ceiling_buffered"]["requests_per_second"],
        again["requests_per_second"],
    ]
    # Counted after a graceful stop: whatever a worker still buffered must have been written by now.
    result["pipeline_max"]["stored"] = count_rows("tracking_view", f"{server[:2]}mx")
    result["pipeline_paced"]["stored"] = count_rows("tracking_view", f"{server[:2]}pc")
    result["sessions_total"] = count_sessions()
    return result


def bench_mixed(server: str, args, env, mixed_file: Path) -> dict:
    """Page views and custom events (3:1) at maximum load on a fresh product server."""
    print(f"== {server}: page views and custom events, {VIEWS_PER_EVENT}:1", flush=True)
    prefix = f"{server[:2]}mi"
    with Server(server, "humblytics.wsgi:application", env, args) as srv:
        run_wrk(srv.url, "/api/event", mixed_file, f"{server[:2]}wm", 2, args.connections)
        result = run_wrk(srv.url, "/api/event", mixed_file, prefix, args.duration, args.connections)
    # Counted after a graceful stop, like the page-view runs.
    result["stored_views"] = count_rows("tracking_view", prefix)
    result["stored_events"] = count_rows("tracking_customevent", prefix)
    result["stored"] = result["stored_views"] + result["stored_events"]
    result["events_linked_at_once"] = count_linked_events(prefix)
    link_events()
    result["events_linked_after_pass"] = count_linked_events(prefix)
    print(f"  mixed max: {result}", flush=True)
    return result


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    ok = value >= target if higher_is_better else value < target
    return "ok" if ok else "MISSED"


def stored_ok(run: dict) -> bool:
    # wrk stops mid-flight: requests it sent but never saw answered may be stored too.
    return run["accepted"] <= run["stored"] <= run["sent"]


def report(results: dict, rate: int) -> None:
    print()
    header = f"{'':38}" + "".join(f"{name:>14}" for name in results) + f"   {'target':<20}"
    print(header)
    print("-" * len(header))

    def row(label: str, values: list[str], target: str) -> None:
        print(f"{label:38}" + "".join(f"{value:>14}" for value in values) + f"   {target:<20}")

    servers = list(results.values())
    row(
        "ceiling: parse + 202 (req/s)",
        [f"{r['ceiling_parse']['requests_per_second']:,}" for r in servers],
        "",
    )
    row(
        "ceiling: + one INSERT (req/s)",
        [f"{r['ceiling_insert']['requests_per_second']:,}" for r in servers],
        "",
    )
    row(
        "ceiling: buffered executemany (req/s)",
        [" / ".join(f"{v:,}" for v in r["ceiling_buffered_runs"]) for r in servers],
        "before / after",
    )
    row(
        "pipeline max (stored events/s)",
        [f"{r['pipeline_max']['accepted_per_second']:,}" for r in servers],
        f">= {TARGET_EVENTS_PER_SECOND:,}",
    )
    row(
        "pipeline / INSERT ceiling",
        [f"{r['ratio_to_insert_ceiling']:.2f}" for r in servers],
        f">= {TARGET_CEILING_RATIO}",
    )
    row(
        "pipeline / buffered ceiling",
        [f"{r['ratio_to_buffered_ceiling']:.2f}" for r in servers],
        f">= {TARGET_BUFFERED_RATIO}",
    )
    row(
        "pipeline max p50 / p99 (ms)",
        [f"{r['pipeline_max']['p50_ms']:.1f}/{r['pipeline_max']['p99_ms']:.0f}" for r in servers],
        "",
    )
    row(
        f"at {rate}/s: p50 (ms)",
        [f"{r['pipeline_paced']['p50_ms']:.2f}" for r in servers],
        f"< {TARGET_P50_MS}",
    )
    row(
        f"at {rate}/s: p99 (ms)",
        [f"{r['pipeline_paced']['p99_ms']:.2f}" for r in servers],
        f"< {TARGET_P99_MS}",
    )
    row(
        "max run: accepted / stored",
        [f"{r['pipeline_max']['accepted']}/{r['pipeline_max']['stored']}" for r in servers],
        "stored >= accepted",
    )
    row(
        f"{rate}/s run: accepted / stored",
        [f"{r['pipeline_paced']['accepted']}/{r['pipeline_paced']['stored']}" for r in servers],
        "equal",
    )
    row(
        "non-202 answers + socket errors",
        [
            str(sum(r[k]["rejected"] + r[k]["socket_errors"] for k in ("pipeline_max", "pipeline_paced")))
            for r in servers
        ],
        "0",
    )
    print()
    for name, r in results.items():
        checks = {
            "events/s": verdict(r["pipeline_max"]["accepted_per_second"], TARGET_EVENTS_PER_SECOND, True),
            "ratio": verdict(r["ratio_to_insert_ceiling"], TARGET_CEILING_RATIO, True),
            "buffered ratio": verdict(r["ratio_to_buffered_ceiling"], TARGET_BUFFERED_RATIO, True),
            "p50": verdict(r["pipeline_paced"]["p50_ms"], TARGET_P50_MS, False),
            "p99": verdict(r["pipeline_paced"]["p99_ms"], TARGET_P99_MS, False),
            "stored": "ok"
            if stored_ok(r["pipeline_max"])
            and r["pipeline_paced"]["accepted"] == r["pipeline_paced"]["stored"]
            else "MISSED",
        }
        r["checks"] = checks
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in checks.items()) + f"   ({r['command']})")


def report_mixed(mixed: dict) -> None:
    print()
    header = f"{'':38}" + "".join(f"{name:>14}" for name in mixed) + f"   {'target':<20}"
    print(header)
    print("-" * len(header))

    def row(label: str, values: list[str], target: str) -> None:
        print(f"{label:38}" + "".join(f"{value:>14}" for value in values) + f"   {target:<20}")

    runs = list(mixed.values())
    row(
        f"views+events {VIEWS_PER_EVENT}:1 (stored/s)",
        [f"{r['accepted_per_second']:,}" for r in runs],
        f">= {TARGET_MIXED_PER_SECOND:,}",
    )
    row("  p50 / p99 (ms)", [f"{r['p50_ms']:.1f}/{r['p99_ms']:.0f}" for r in runs], "")
    row("  accepted / stored", [f"{r['accepted']}/{r['stored']}" for r in runs], "stored >= accepted")
    row("  stored views / events", [f"{r['stored_views']}/{r['stored_events']}" for r in runs], "")
    row(
        "  events on their visit: at once / pass",
        [f"{r['events_linked_at_once']}/{r['events_linked_after_pass']}" for r in runs],
        "",
    )
    row("  non-202 answers + socket errors", [str(r["rejected"] + r["socket_errors"]) for r in runs], "0")
    print()
    for name, r in mixed.items():
        r["checks"] = {
            "stored/s": verdict(r["accepted_per_second"], TARGET_MIXED_PER_SECOND, True),
            "stored": "ok" if stored_ok(r) else "MISSED",
        }
        print(f"{name} (views+events): " + ", ".join(f"{k} {v}" for k, v in r["checks"].items()))


def merge_results(key: str, section: dict) -> None:
    path = ROOT / "bench" / "results.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data[key] = section
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="gunicorn,granian")
    parser.add_argument("--duration", type=int, default=10, help="seconds per max-load run")
    parser.add_argument("--paced-duration", type=int, default=15, help="seconds of the fixed-rate run")
    parser.add_argument("--rate", type=int, default=500, help="events/s of the fixed-rate run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--gunicorn-workers", type=int, default=int(os.environ.get("BENCH_GUNICORN_WORKERS", 3))
    )
    parser.add_argument("--granian-workers", type=int, default=2)
    parser.add_argument(
        "--granian-threads", type=int, default=int(os.environ.get("BENCH_GRANIAN_THREADS", 1))
    )
    parser.add_argument("--granian-backpressure", type=int, default=64)
    parser.add_argument("--buffered", choices=["true", "false"], default="true", help="INGEST_BUFFER")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL allowed to CREATE/DROP DATABASE (loopback only)",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results.json")
    parser.add_argument(
        "--mixed-only",
        action="store_true",
        help="only the run with custom events (no ceilings, no page views)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install -y wrk")
    if "@127.0.0.1" not in args.admin_url and "@localhost" not in args.admin_url:
        raise SystemExit("the benchmark only targets a PostgreSQL server on 127.0.0.1")

    from cryptography.fernet import Fernet

    db_name = "humblytics_bench"
    database_url = args.admin_url.rsplit("/", 1)[0] + "/" + db_name
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "humblytics.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + Fernet.generate_key().decode(),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": HOST,
        "TRUSTED_PROXY_COUNT": "1",
        "INGEST_RATE_PER_IP": "0",
        "INGEST_RATE_PER_SITE": "0",
        "INGEST_BUFFER": args.buffered,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        # Production runs collectstatic; the benchmark serves no static files.
        "PYTHONWARNINGS": "ignore:No directory at",
    }
    env.pop("REDIS_URL", None)
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})

    admin_sql(args.admin_url, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)", f"CREATE DATABASE {db_name}")
    tmp = Path(tempfile.mkdtemp(prefix="hmbl-bench-ingest-"))
    load_before = tuple(round(x, 2) for x in os.getloadavg())
    results: dict = {}
    mixed: dict = {}
    try:
        site_id = prepare_database(database_url)
        rng = random.Random(20261127)
        events = [
            (ua, ip, body.replace("@@SITE@@", site_id)) for ua, ip, body in make_events(20_000, 20_000, rng)
        ]
        events_file = tmp / "events.tsv"
        events_file.write_text("".join(f"{ua}\t{ip}\t{body}\n" for ua, ip, body in events))
        mixed_file = tmp / "mixed.tsv"
        mixed_file.write_text(
            "".join(f"{ua}\t{ip}\t{body}\n" for ua, ip, body in make_mixed_events(events, rng)).replace(
                "@@SITE@@", site_id
            )
        )
        for server in args.servers.split(","):
            if not args.mixed_only:
                result = bench_server(server, args, env, events_file, events)
                ceiling = result["ceiling_insert"]["requests_per_second"]
                result["ratio_to_insert_ceiling"] = round(
                    result["pipeline_max"]["accepted_per_second"] / ceiling if ceiling else 0, 2
                )
                buffered = max(result["ceiling_buffered_runs"])
                result["ratio_to_buffered_ceiling"] = round(
                    result["pipeline_max"]["accepted_per_second"] / buffered if buffered else 0, 2
                )
                results[server] = result
            mixed[server] = bench_mixed(server, args, env, mixed_file)
    finally:
        from django.db import connections

        connections.close_all()
        admin_sql(args.admin_url, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)

    load_after = tuple(round(x, 2) for x in os.getloadavg())
    if results:
        report(results, args.rate)
    report_mixed(mixed)
    print(f"load average (1/5/15 min): {load_before} before, {load_after} after; foreign load inflates both")
    if not args.no_save:
        merge_results(
            "ingest_mixed",
            {
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after},
                "settings": {
                    "duration_s": args.duration,
                    "connections": args.connections,
                    "buffered": args.buffered == "true",
                    "views_per_event": VIEWS_PER_EVENT,
                },
                "targets": {"stored_per_second": TARGET_MIXED_PER_SECOND},
                "servers": mixed,
            },
        )
    if not results:
        return
    best = max(results, key=lambda name: results[name]["pipeline_max"]["accepted_per_second"])
    print(f"\nfastest full pipeline: {best}")
    if not args.no_save:
        merge_results(
            "ingest",
            {
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after},
                "settings": {
                    "duration_s": args.duration,
                    "paced_duration_s": args.paced_duration,
                    "rate": args.rate,
                    "connections": args.connections,
                    "buffered": args.buffered == "true",
                },
                "targets": {
                    "events_per_second": TARGET_EVENTS_PER_SECOND,
                    "ratio_to_insert_ceiling": TARGET_CEILING_RATIO,
                    "ratio_to_buffered_ceiling": TARGET_BUFFERED_RATIO,
                    "p50_ms_at_rate": TARGET_P50_MS,
                    "p99_ms_at_rate": TARGET_P99_MS,
                },
                "servers": results,
                "fastest": best,
            },
        )


if __name__ == "__main__":
    main()
