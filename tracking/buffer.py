"""This worker process's ingest buffer: admitted page views written in batches by a background thread.

``ingest.submit`` hands a view to ``get_buffer(ingest.store)`` when ``INGEST_BUFFER`` is on. The buffer
is given its writer rather than importing ``tracking.ingest``, so imports run one way. ``close_buffer`` is
gunicorn's worker-exit hook (gunicorn.conf.py).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.db import connection as db_connection

if TYPE_CHECKING:
    from tracking.ingest import Pending

logger = logging.getLogger(__name__)

Write = Callable[[Sequence["Pending"]], object]


class IngestBuffer:
    """Admitted views of this process, written in batches by a background thread.

    ``add`` is called by request threads and never touches the database. A daemon thread wakes every
    ``interval`` seconds, or as soon as ``max_batch`` views wait, and stores them with ``write``
    (``ingest.store``) in batches of up to ``max_batch`` (one transaction and 7 round trips per batch
    instead of per view). Sessions stay right: a batch resolves its visitors' sessions with one query
    under advisory locks on those visitors, so a visitor's views in one batch share a session, and two
    workers flushing the same visitor at once are serialised by the lock and cannot open two sessions.

    Loss window, stated plainly: the API has answered 202 before the view is written.
    - A graceful stop (SIGTERM/SIGINT to gunicorn or granian, a deploy, a worker recycled with
      ``max_requests``) loses nothing: ``close`` runs at worker exit (gunicorn's ``worker_exit`` hook
      in gunicorn.conf.py, ``atexit``, and multiprocessing's exit finalisers for granian's workers)
      and writes everything still buffered.
    - ``kill -9`` of a worker, an OOM kill, a gunicorn worker timeout or a machine crash loses at most
      what that worker buffered and had not committed: about ``interval`` seconds of its events (plus
      the batch being written), never more than ``max_pending`` views.
    - While the database is unreachable, views stay buffered (up to ``max_pending``) and are retried
      each interval; beyond that ``add`` refuses and the view is stored synchronously instead.
    A batch that fails on its data (not on the connection) is retried view by view, so one bad view
    is logged and dropped without holding back the others.
    """

    def __init__(self, write: Write, interval: float, max_batch: int, max_pending: int):
        self.write = write
        self.interval = interval
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._items: list[Pending] = []
        self._lock = threading.Lock()  # guards _items
        self._flush_lock = threading.Lock()  # one writer at a time in this process
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, pending: Pending) -> bool:
        """Queue one admitted view; False when the buffer is full or closed (store it directly)."""
        if self._stopping:
            return False
        self._start()
        with self._lock:
            if len(self._items) >= self.max_pending:
                return False
            self._items.append(pending)
            size = len(self._items)
        if size >= self.max_batch:
            self._wake.set()
        return True

    def flush(self) -> int:
        """Write everything buffered now; returns the number of views written. Raises on a DB outage
        after putting the unwritten views back."""
        written = 0
        with self._flush_lock:
            while True:
                with self._lock:
                    batch = self._items[: self.max_batch]
                    del self._items[: self.max_batch]
                if not batch:
                    return written
                try:
                    self.write(batch)
                except (OperationalError, InterfaceError):
                    with self._lock:
                        self._items[:0] = batch
                    # The connection may be dead: let the next attempt open a fresh one.
                    db_connection.close()
                    raise
                except Exception:
                    # Bad data or a bug in one view must not cost the whole batch: write them one by one.
                    logger.exception("ingest batch of %d failed; retrying its views one by one", len(batch))
                    self._write_one_by_one(batch)
                written += len(batch)

    def _write_one_by_one(self, batch: list[Pending]) -> None:
        for pending in batch:
            try:
                self.write([pending])
            except Exception:
                logger.exception("dropped view %s of site %s", pending.event.view_id, pending.site.pk)

    def close(self, timeout: float = 25.0) -> None:
        """Stop the thread and write what is left (called at worker exit; safe to call twice)."""
        if os.getpid() != self._pid:
            return
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        deadline = time.monotonic() + timeout
        while self._items:
            try:
                self.flush()
            except DatabaseError:
                if time.monotonic() > deadline:
                    logger.error("ingest buffer: database unreachable at exit, %d views lost", len(self))
                    return
                time.sleep(0.5)
        db_connection.close()

    def _start(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                # Forked after use: the parent's thread and views are not ours.
                self._pid, self._items, self._thread = os.getpid(), [], None
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="ingest-buffer", daemon=True)
            self._thread.start()
        atexit.register(self.close)
        # multiprocessing children (granian's workers) leave through os._exit(): no atexit there, but
        # multiprocessing runs its exit finalisers first.
        multiprocessing.util.Finalize(self, self.close, exitpriority=100)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping:
                break
            try:
                self.flush()
            except Exception:
                logger.exception("ingest buffer: flush failed; %d views kept for the next attempt", len(self))
                time.sleep(min(5.0, self.interval * 10))
        db_connection.close()


_buffer: IngestBuffer | None = None
_buffer_lock = threading.Lock()


def get_buffer(write: Write) -> IngestBuffer:
    """This process's buffer, created on first use from the ``INGEST_BUFFER_*`` settings with ``write``."""
    global _buffer
    if _buffer is None:
        with _buffer_lock:
            if _buffer is None:
                _buffer = IngestBuffer(
                    write,
                    interval=settings.INGEST_BUFFER_INTERVAL_MS / 1000,
                    max_batch=settings.INGEST_BUFFER_MAX_BATCH,
                    max_pending=settings.INGEST_BUFFER_MAX_PENDING,
                )
    return _buffer


def close_buffer() -> None:
    """Write every buffered view of this process now and stop its thread (worker exit hooks)."""
    if _buffer is not None:
        _buffer.close()
