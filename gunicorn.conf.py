"""gunicorn settings (the documented alternative to granian): `gunicorn humblytics.wsgi:application`.

    gunicorn --config gunicorn.conf.py humblytics.wsgi:application

Measured by bench/ingest.py: granian serves the event API faster and is the production server; this
file keeps gunicorn a drop-in alternative. gthread workers, one per core plus one (WEB_CONCURRENCY
overrides): sync workers close the connection after every request, which cost 3-4x the throughput
in the benchmark. With buffered ingest (INGEST_BUFFER) a hit never waits on the database.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
# gthread workers keep connections alive and serve 8 at once each (GUNICORN_THREADS=1: sync workers).
threads = int(os.environ.get("GUNICORN_THREADS", 8))
worker_class = "gthread" if threads > 1 else "sync"
keepalive = 5
# The heartbeat file is touched on every request: keep it in memory, not on disk (gunicorn creates it
# with mkstemp, so a shared directory is safe).
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None
# Time for a stopping worker to finish its request and write its ingest buffer (with the database down
# it leaves the rest in the ingest spool after a few seconds, for the next worker).
graceful_timeout = 30


def worker_exit(server, worker):
    """Write the worker's buffered page views before it exits (a graceful stop loses none)."""
    from tracking import buffer

    buffer.close_buffer()
