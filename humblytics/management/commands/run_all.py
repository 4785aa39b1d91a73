import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from humblytics.demo import DEMO_PASSWORD, DEMO_STRIPE_KEY, DEMO_USERNAME

# How long each child gets to stop after SIGTERM before its whole process group is killed.
STOP_TIMEOUT_SECONDS = 10
# How long the web server gets to accept connections before the run is called a failure.
START_TIMEOUT_SECONDS = 60


def port_problem(host: str, port: int) -> str | None:
    """Why the web server could not listen on host:port (already taken, or not an address here)."""
    try:
        with socket.create_server((host, port)):
            return None
    except OSError as exc:
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            return (
                f"Port {port} on {host} is already in use (another `make run`?). Stop that program, or "
                f"choose another port: make run PORT={port + 1}"
            )
        return f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Try make run HOST=127.0.0.1"


def is_listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


class Command(BaseCommand):
    help = (
        "Run the fake Stripe server, the demo, the web server and the django-q2 worker together "
        "(Ctrl-C stops all of them). For local use: `make run`."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo login and data")
        parser.add_argument("--demo-days", type=int, default=90, help="Days of demo traffic (default 90)")
        parser.add_argument("--demo-scale", type=float, default=1.0, help="Demo traffic volume factor")
        parser.add_argument("--stripe-port", type=int, default=0, help="Fake Stripe port (default: any free)")

    def handle(self, *args, host, port, no_demo, demo_days, demo_scale, stripe_port, **options):
        self.processes: dict[str, subprocess.Popen] = {}
        # SIGTERM behaves like Ctrl-C everywhere below, so a half-started run cleans up too.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
        failed = None
        problem = port_problem(host, port)
        if problem:
            raise CommandError(problem)
        try:
            url = self._start_fake_stripe(stripe_port)
            # Same-process sync (the demo) reads settings; the children read the environment.
            settings.STRIPE_API_BASE = url
            os.environ["STRIPE_API_BASE"] = url
            if not no_demo:
                call_command("demo", days=demo_days, scale=demo_scale, stripe_url=url, stdout=self.stdout)
            self._start_servers(host, port)
            self._wait_until_listening(host, port)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Humblytics is running at http://{host}:{port}/  "
                    f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}"
                )
            )
            pids = ", ".join(f"{name} {process.pid}" for name, process in self.processes.items())
            self.stdout.write(f"Fake Stripe at {url}. Processes: {pids}. Ctrl-C stops all three.")
            self.stdout.flush()
            failed = self._wait_for_first_exit()
        except KeyboardInterrupt:
            pass
        finally:
            self._stop_all()
        self.stdout.write("Stopped.")
        if failed:
            raise CommandError(failed)

    def _start_servers(self, host: str, port: int) -> None:
        python, manage = sys.executable, str(settings.BASE_DIR / "manage.py")
        self._start("web", [python, manage, "runserver", f"{host}:{port}", "--noreload"])
        self._start("worker", [python, manage, "qcluster"])

    def _wait_until_listening(self, host: str, port: int) -> None:
        """Success is printed only once the web server answers (it may lose a race for the port)."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not is_listening(host, port):
            web = self.processes["web"]
            if web.poll() is not None:
                raise CommandError(
                    port_problem(host, port) or f"The web server exited with {web.returncode}."
                )
            if time.monotonic() > deadline:
                raise CommandError(
                    f"The web server did not answer on {host}:{port} in {START_TIMEOUT_SECONDS} s."
                )
            time.sleep(0.2)

    def _start(self, name: str, command: list[str], **kwargs) -> subprocess.Popen:
        # Each child leads its own process group: a child that will not stop is killed with
        # everything it started (qcluster's workers), and nothing outlives this command.
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, start_new_session=True, **kwargs)
        self.processes[name] = process
        return process

    def _start_fake_stripe(self, port: int) -> str:
        command = [sys.executable, "-m", "revenue.fakestripe", "--port", str(port), "--key", DEMO_STRIPE_KEY]
        process = self._start("fakestripe", command, stdout=subprocess.PIPE, text=True)
        url = process.stdout.readline().strip()  # its first line is the URL it serves
        if not url.startswith("http://"):
            raise CommandError(f"The fake Stripe server did not start (exit code {process.poll()}).")
        return url

    def _wait_for_first_exit(self) -> str | None:
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    message = f"{name} exited with {process.returncode}; stopping the others"
                    self.stderr.write(message)
                    return message
            time.sleep(0.3)

    def _stop_all(self) -> None:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The leader is gone or stuck: anything left in its group goes now.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _interrupt(signum, frame):
    raise KeyboardInterrupt
