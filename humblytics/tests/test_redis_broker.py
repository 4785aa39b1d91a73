"""With REDIS_URL set, django-q2 queues through Redis and rate limits are shared by every process.

Runs when .ci/run finds a Redis server (it exports REDIS_TEST_URL); each check runs in a fresh
interpreter because the broker and cache are chosen from the environment at start-up.
"""

import os
import subprocess
import sys

import pytest
from django.conf import settings

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_TEST_URL, reason="no Redis server given in REDIS_TEST_URL")


def run_with_redis(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, REDIS_URL=REDIS_TEST_URL, DJANGO_SETTINGS_MODULE="humblytics.settings")
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tasks_are_queued_through_redis():
    code = """
import uuid
from django_q.brokers import get_broker
from django_q.brokers.redis_broker import Redis
from django_q.tasks import async_task
broker = get_broker("hmbl-test-" + uuid.uuid4().hex)
assert isinstance(broker, Redis), type(broker)
assert broker.ping()
async_task("tracking.tasks.rotate_salts", broker=broker)
assert broker.queue_size() == 1
task = broker.dequeue()
assert task, "nothing came back from Redis"
broker.delete_queue()
print("ok")
"""
    result = run_with_redis(code)
    assert result.stdout.strip().endswith("ok"), result.stderr


def test_rate_limits_are_shared_across_processes():
    key = "shared-" + os.urandom(6).hex()
    # One window for the whole test (a billion seconds), so no boundary falls between the processes.
    count = f"from humblytics.lib import ratelimit\nprint(ratelimit.count('{key}', 10**9))\n"
    counts = [run_with_redis(count).stdout.strip() for _ in range(3)]
    assert counts == ["1", "2", "3"], counts
