"""`make run` on a taken port says so before anything starts, and never prints that it is running."""

import os
import socket
import subprocess
import sys

from django.conf import settings

from humblytics.management.commands.run_all import port_problem


def test_a_free_port_has_no_problem_and_a_taken_one_says_what_to_do():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        problem = port_problem("127.0.0.1", port)
    assert f"Port {port} on 127.0.0.1 is already in use" in problem
    assert f"make run PORT={port + 1}" in problem
    assert port_problem("127.0.0.1", port) is None


def test_run_all_refuses_a_taken_port_before_starting_anything():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                str(settings.BASE_DIR / "manage.py"),
                "run_all",
                "--port",
                str(port),
                "--no-demo",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DEBUG": "true"},
            cwd=settings.BASE_DIR,
        )
    assert result.returncode != 0
    assert "already in use" in result.stderr
    assert "is running" not in result.stdout and "Fake Stripe at" not in result.stdout
