"""Ingest chaos: a 202 is a promise, whatever happens to the database or the workers after it.

A private PostgreSQL cluster (initdb into a temporary directory, its own port: never the machine's
server) and the production web server exactly as README runs it (granian, two workers, respawning failed
ones, DEBUG off, buffered ingest with its spool) in a subprocess. Threads post thousands of distinct page
views over HTTP, every fourth request a custom event on the view its thread sent before (issue 18: events
take the same path and keep the same promise), while one fault from issue 14 is injected:

- the database read-only for 8 s; INSERT permission revoked for 8 s;
- the database stopped for ~20 s;
- SIGTERM to the server while the database is down, then a new server started (still down), then the
  database back;
- kill -9 of one worker (granian respawns it; another worker stores what its spool held);
- a wrong DATABASE_URL: the server refuses to start with a clear message.

Then, with the database back: every view and event answered 202 is stored exactly once, nothing answered
otherwise is stored (except a request whose connection broke before the answer), sessions count each view once,
and no answer was a 500. PostgreSQL's binaries must be installed (CI installs them): the test fails, not
skips, without them.
"""

import contextlib
import glob
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GRANIAN = str(Path(sys.executable).parent / "granian")
DOMAIN = "chaos.example"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
THREADS = 6
RATE_PER_THREAD = 40  # views/s per thread: ~240/s in all, a few thousand views per fault


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = shutil.which("initdb")
    for initdb in [*candidates, *([found] if found else [])]:
        return Path(initdb).parent
    pytest.fail(
        "the ingest chaos tests need PostgreSQL's server binaries (initdb, pg_ctl) to run a private "
        "cluster: apt-get install postgresql (CI installs it)"
    )


# ---- a private PostgreSQL cluster ------------------------------------------------------------------


@dataclass
class Cluster:
    bindir: Path
    datadir: Path
    port: int
    as_postgres: list[str]

    def pg_ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args]
        subprocess.run([*self.as_postgres, *command], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-w", "-l", str(self.datadir / "server.log"), "-o", options, "start")

    def stop(self) -> None:
        self.pg_ctl("-w", "-m", "fast", "stop")

    def sql(self, *statements: str, database: str = "postgres") -> list:
        import psycopg

        with psycopg.connect(self.url("postgres", database), autocommit=True) as conn:
            rows = []
            for statement in statements:
                cursor = conn.execute(statement)
                rows = cursor.fetchall() if cursor.description else []
            return rows

    def url(self, user: str = "app", database: str = "humblytics") -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bindir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="hmbl-chaos-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    datadir = root / "data"
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    cluster = Cluster(bindir, datadir, free_port(), as_postgres)
    cluster.start()
    try:
        # Not a superuser, so revoking a permission bites; it owns the database it migrates.
        cluster.sql("CREATE ROLE app LOGIN", "CREATE DATABASE humblytics OWNER app")
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Install:
    cluster: Cluster
    env: dict[str, str]
    site_id: str
    site_pk: int
    spool: Path


def base_env(database_url: str, spool: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "DJANGO_", "INGEST_"))}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="humblytics.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(40),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        TRUSTED_PROXY_COUNT="1",
        INGEST_RATE_PER_IP="0",
        INGEST_RATE_PER_SITE="0",
        INGEST_SPOOL_DIR=str(spool),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        DJANGO_SUPERUSER_PASSWORD="correct-horse-battery",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def install(cluster, tmp_path_factory) -> Install:
    spool = tmp_path_factory.mktemp("spool")
    env = base_env(cluster.url(), spool)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "createsuperuser", "--noinput", "--username", "chaos", "--email", "chaos@example.com")
    site_id = manage(env, "create_site", DOMAIN, "--owner", "chaos").strip().splitlines()[-1]
    ((site_pk,),) = cluster.sql(
        f"SELECT id FROM tracking_site WHERE public_id = '{site_id}'", database="humblytics"
    )
    return Install(cluster, env, site_id, site_pk, spool)


# ---- the server, as README runs it -------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: list[str] = field(default_factory=list)

    def pids(self) -> list[int]:
        """The worker processes (children of granian's main process)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    pids.append(int(stat.parent.name))
        return pids

    def terminate(self, timeout: float = 60) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                pytest.fail(f"granian did not stop within {timeout}s of SIGTERM")

    def text(self) -> str:
        return "\n".join(self.log)


def start_server(install: Install, *, env: dict[str, str] | None = None, wait: bool = True) -> Server:
    port = free_port()
    # README's production command.
    process = subprocess.Popen(
        [
            GRANIAN,
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--blocking-threads",
            "1",
            "--backpressure",
            "64",
            "--no-ws",
            "--respawn-failed-workers",
            "humblytics.wsgi:application",
        ],
        cwd=ROOT,
        env=env or install.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = Server(process, port)

    def read_log() -> None:
        for line in process.stdout:
            server.log.append(line.rstrip())

    threading.Thread(target=read_log, daemon=True).start()
    if wait:
        deadline = time.monotonic() + 60
        while not (len(server.pids()) == 2 and answers(port)):
            if process.poll() is not None or time.monotonic() > deadline:
                server.terminate()
                pytest.fail("granian did not start:\n" + server.text()[-3000:])
            time.sleep(0.2)
    return server


def answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("OPTIONS", "/api/event")
        return conn.getresponse().status == 204
    except OSError:
        return False


@pytest.fixture
def servers(install) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        with contextlib.suppress(Exception):
            server.terminate()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)


# ---- traffic -------------------------------------------------------------------------------------------


EVENT_EVERY = 4  # every fourth request is a custom event


class Traffic:
    """Threads posting distinct page views and custom events; remembers each view id's answer (status, or
    "broken") and each event's, by the unique ``seq`` property it carries."""

    def __init__(self, install: Install, prefix: str):
        self.install = install
        self.prefix = prefix
        self.port = 0
        self.answers: dict[str, int | str] = {}
        self.event_answers: dict[str, int | str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._generation = 0

    def start(self, port: int) -> None:
        self.port = port
        self._stop.clear()
        self._generation += 1
        for number in range(THREADS):
            thread = threading.Thread(target=self._send, args=(number, self._generation), daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []

    def _send(self, number: int, generation: int) -> None:
        rng = random.Random(number * 1000 + generation)
        conn = None
        sent = 0
        last_view_id = ""
        started = time.monotonic()
        while not self._stop.is_set():
            due = started + sent / RATE_PER_THREAD
            if (delay := due - time.monotonic()) > 0:
                time.sleep(delay)
            view_id = f"{self.prefix}{generation:02d}{number:02d}{sent:07d}"
            is_event = sent % EVENT_EVERY == EVENT_EVERY - 1 and bool(last_view_id)
            sent += 1
            page = {
                "site": self.install.site_id,
                "view_id": view_id,
                "url": f"https://{DOMAIN}/{rng.choice(['', 'pricing', 'blog', 'docs'])}",
                "referrer": rng.choice(["", "https://www.google.com/"]),
                "screen_width": 1440,
            }
            if is_event:
                # ``view_id`` stays this request's unique key: it is sent as the event's ``seq``.
                page.update(view_id=last_view_id, type="event", name="Chaos", props={"seq": view_id})
            else:
                last_view_id = view_id
            body = json.dumps(page)
            headers = {
                "Content-Type": "text/plain;charset=UTF-8",
                "User-Agent": CHROME,
                "X-Forwarded-For": f"198.51.{rng.randrange(100)}.{rng.randrange(1, 250)}",
            }
            try:
                if conn is None or conn.port != self.port:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                conn.request("POST", "/api/event", body, headers)
                response = conn.getresponse()
                payload = response.read()
                answer: int | str = response.status
                if response.status >= 500 and "application/json" not in response.getheader(
                    "Content-Type", ""
                ):
                    answer = f"html {response.status}: {payload[:200]!r}"
            except (OSError, http.client.HTTPException):
                answer, conn = "broken", None
            with self._lock:
                (self.event_answers if is_event else self.answers)[view_id] = answer

    def accepted(self) -> set[str]:
        return {view_id for view_id, answer in self.answers.items() if answer == 202}

    def accepted_events(self) -> set[str]:
        return {seq for seq, answer in self.event_answers.items() if answer == 202}

    def counts(self) -> Counter:
        return Counter(str(answer) for answer in [*self.answers.values(), *self.event_answers.values()])


def stored(install: Install, prefix: str) -> list[str]:
    rows = install.cluster.sql(
        f"SELECT view_id FROM tracking_view WHERE site_id = {install.site_pk} AND view_id LIKE '{prefix}%'",
        database="humblytics",
    )
    return [row[0] for row in rows]


def stored_events(install: Install, prefix: str) -> list[str]:
    rows = install.cluster.sql(
        f"SELECT props->>'seq' FROM tracking_customevent WHERE site_id = {install.site_pk}"
        f" AND view_id LIKE '{prefix}%'",
        database="humblytics",
    )
    return [row[0] for row in rows]


def assert_exact_accounting(install: Install, traffic: Traffic, *, settle: float = 90) -> str:
    """Every 202 stored exactly once; nothing else stored but views whose connection broke; no 500."""
    accepted, accepted_events = traffic.accepted(), traffic.accepted_events()
    deadline = time.monotonic() + settle
    while (
        not accepted <= set(stored(install, traffic.prefix))
        or not accepted_events <= set(stored_events(install, traffic.prefix))
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)  # anything stored late would show up as extra
    views = stored(install, traffic.prefix)
    events = stored_events(install, traffic.prefix)
    counts = traffic.counts()
    broken = {view_id for view_id, answer in traffic.answers.items() if answer == "broken"}
    ((pageviews, view_count),) = install.cluster.sql(
        f"SELECT (SELECT coalesce(sum(pageviews), 0) FROM tracking_session WHERE site_id = {install.site_pk}),"
        f" (SELECT count(*) FROM tracking_view WHERE site_id = {install.site_pk})",
        database="humblytics",
    )
    summary = (
        f"{traffic.prefix}: answers {dict(counts)}; accepted {len(accepted)} views, {len(accepted_events)}"
        f" events; stored {len(views)} views, {len(events)} events"
    )
    print(summary)
    assert not [answer for answer in counts if answer == "500" or answer.startswith("html")], summary
    assert len(views) == len(set(views)), f"views stored twice: {summary}"
    missing = accepted - set(views)
    assert not missing, f"{len(missing)} accepted views lost, e.g. {sorted(missing)[:3]}: {summary}"
    extra = set(views) - accepted - broken
    assert not extra, f"{len(extra)} views stored that were answered otherwise: {summary}"
    assert pageviews == view_count, f"sessions count {pageviews} views for {view_count} stored"
    assert len(events) == len(set(events)), f"events stored twice: {summary}"
    missing = accepted_events - set(events)
    assert not missing, f"{len(missing)} accepted events lost, e.g. {sorted(missing)[:3]}: {summary}"
    broken = {seq for seq, answer in traffic.event_answers.items() if answer == "broken"}
    extra = set(events) - accepted_events - broken
    assert not extra, f"{len(extra)} events stored that were answered otherwise: {summary}"
    return summary


def run_traffic(traffic: Traffic, server: Server, seconds: float) -> None:
    traffic.start(server.port)
    time.sleep(seconds)


# ---- the faults ------------------------------------------------------------------------------------------


def test_a_read_only_database_loses_no_accepted_view(install, servers):
    server = start_server(install)
    servers.append(server)
    traffic = Traffic(install, "readonly")
    run_traffic(traffic, server, 3)
    install.cluster.sql("ALTER SYSTEM SET default_transaction_read_only = on", "SELECT pg_reload_conf()")
    time.sleep(8)
    install.cluster.sql("ALTER SYSTEM RESET default_transaction_read_only", "SELECT pg_reload_conf()")
    time.sleep(3)
    traffic.stop()
    assert_exact_accounting(install, traffic)
    assert "read-only" in server.text(), "the fault did not reach the server"


def test_a_revoked_permission_loses_no_accepted_view(install, servers):
    server = start_server(install)
    servers.append(server)
    traffic = Traffic(install, "revoked")
    run_traffic(traffic, server, 3)
    install.cluster.sql("REVOKE INSERT ON tracking_view, tracking_session FROM app", database="humblytics")
    time.sleep(8)
    install.cluster.sql("GRANT INSERT ON tracking_view, tracking_session TO app", database="humblytics")
    time.sleep(3)
    traffic.stop()
    assert_exact_accounting(install, traffic)
    assert "permission denied" in server.text(), "the fault did not reach the server"


def test_a_database_down_for_20_seconds_loses_no_accepted_view(install, servers):
    server = start_server(install)
    servers.append(server)
    traffic = Traffic(install, "dbdown")
    run_traffic(traffic, server, 4)  # longer than the 3-second site cache: the stale entry must serve
    install.cluster.stop()
    try:
        time.sleep(20)
    finally:
        install.cluster.start()
    time.sleep(3)
    traffic.stop()
    summary = assert_exact_accounting(install, traffic)
    assert len(traffic.accepted()) > 0.9 * len(traffic.answers), f"views refused during the outage: {summary}"


def test_sigterm_while_the_database_is_down_leaves_the_views_for_the_next_server(install, servers):
    server = start_server(install)
    servers.append(server)
    traffic = Traffic(install, "sigterm")
    run_traffic(traffic, server, 3)
    install.cluster.stop()
    try:
        time.sleep(4)
        spooled_at_stop = len(traffic.accepted())
        traffic.stop()
        server.terminate()
        assert "views left in the spool" in server.text() and "lost" not in server.text()
        # A new server starts while the database is still down; it stores the spool once it is back.
        server = start_server(install)
        servers.append(server)
        traffic.start(server.port)
        time.sleep(3)
    finally:
        install.cluster.start()
    time.sleep(4)
    traffic.stop()
    assert_exact_accounting(install, traffic)
    assert spooled_at_stop > 0


def test_kill_9_of_one_worker_loses_no_accepted_view(install, servers):
    server = start_server(install)
    servers.append(server)
    traffic = Traffic(install, "killnine")
    run_traffic(traffic, server, 4)
    victim = server.pids()[0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(8)
    assert server.process.poll() is None, "granian exited when one worker was killed"
    assert victim not in server.pids() and len(server.pids()) == 2, "the killed worker was not respawned"
    traffic.stop()
    summary = assert_exact_accounting(install, traffic)
    later = Counter(str(answer) for view_id, answer in list(traffic.answers.items())[-THREADS * 20 :])
    assert later.get("202", 0) == sum(later.values()), f"not serving after the kill: {summary}"


def test_a_wrong_database_url_stops_the_server_at_start_with_a_clear_message(install, servers):
    env = dict(install.env, DATABASE_URL=install.cluster.url("app", "no_such_database"))
    server = start_server(install, env=env, wait=False)
    servers.append(server)
    try:
        server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("granian kept running with a wrong DATABASE_URL:\n" + server.text()[-3000:])
    assert server.process.returncode != 0
    assert "DATABASE_URL is wrong: connection failed" in server.text()
    assert 'database "no_such_database" does not exist' in server.text()
