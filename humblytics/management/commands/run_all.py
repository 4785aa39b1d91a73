import os
import signal
import subprocess
import sys
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and the django-q2 worker together (Ctrl-C stops both). For local use."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo login and data")

    def handle(self, *args, host, port, no_demo, **options):
        env = dict(os.environ)
        python = sys.executable
        if not no_demo:
            call_command("demo", stdout=self.stdout)
        commands = {
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [python, "manage.py", "qcluster"],
        }
        processes = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
        self.stdout.write(
            self.style.SUCCESS(f"Humblytics is running at http://{host}:{port}/  (Ctrl-C stops it)")
        )

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with {process.returncode}; stopping the others")
                        stopping = True
                time.sleep(0.3)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        self.stdout.write("Stopped.")
