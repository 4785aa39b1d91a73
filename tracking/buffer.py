"""This worker process's ingest buffer: admitted page views and custom events written in batches by a
background thread (a batch's views before its events; see ``ingest.store``).

``ingest.submit`` hands a view to ``get_buffer(...)`` when ``INGEST_BUFFER`` is on. The buffer is given
its writer and the spool codec rather than importing ``tracking.ingest``, so imports run one way.
``close_buffer`` is gunicorn's worker-exit hook (gunicorn.conf.py).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import multiprocessing.util
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.db import connection as db_connection

from tracking.spool import Segment, Spool, SpoolError

if TYPE_CHECKING:
    from tracking.ingest import Pending

logger = logging.getLogger(__name__)

Write = Callable[[Sequence["Pending"]], object]

# One-by-one writes that all fail, with none succeeding, mean the database refuses everything (read-only,
# a revoked permission, a full disk): keep the views. Only a view that fails while others succeed is bad.
_PROBES = 3
# A view failing alone with an error that is not the database's (a bug) is dead-lettered after this many
# passes; database errors never expire a view (a read-only database may last hours).
_MAX_FAILURES = 5
_REPLAY_SECONDS = 10.0


# SQLSTATEs of a database refusing writes whatever the row: connection (08), transaction state such as
# read-only (25), insufficient privilege (42501), resources such as a full disk (53), operator
# intervention (57) and system errors (58).
_REFUSING_STATE_CLASSES = ("08", "25", "53", "57", "58")


def refused_by_database(exc: Exception) -> bool:
    """True when ``exc`` says the database refuses writes of this kind, not that this row is bad."""
    state = getattr(exc.__cause__, "sqlstate", None) or getattr(exc, "sqlstate", None) or ""
    return state == "42501" or state[:2] in _REFUSING_STATE_CLASSES


class BufferFull(Exception):
    """Over ``INGEST_BUFFER_MAX_PENDING`` views wait: the API answers 503 with Retry-After."""


@dataclass(frozen=True)
class Codec:
    """How a view becomes a spool record and back (``tracking.ingest`` provides both)."""

    encode: Callable[[Pending], dict]
    decode: Callable[[list[dict]], tuple[list[Pending], int]]  # (views, records whose site is gone)


class _Item:
    __slots__ = ("failures", "pending", "segment")

    def __init__(self, pending: Pending, segment: Segment | None):
        self.pending = pending
        self.segment = segment
        self.failures = 0


class IngestBuffer:
    """Admitted views of this process, spooled to disk and written in batches by a background thread.

    ``add`` is called by request threads and never touches the database: it appends the view to this
    worker's spool (``tracking.spool``) and queues it. A daemon thread wakes every ``interval`` seconds,
    or as soon as ``max_batch`` views wait, and stores them with ``write`` (``ingest.store``) in batches
    of up to ``max_batch`` (one transaction and 7 round trips per batch). Sessions stay right: a batch
    resolves its visitors' sessions under advisory locks on those visitors.

    What a 202 promises (with a spool): the view is stored exactly once unless the machine's disk is
    lost or the operating system crashes before writing its page cache. A custom event takes the same
    path and keeps the same promise: it is recognised on a replay by the uid given at admission.
    - Graceful stop: everything is written; if the database is down, what is left stays in the spool.
    - ``kill -9``, OOM, crash of the process: its segments are adopted by another worker (now, or when
      the next one starts) and stored again; views already stored are recognised by their id.
    - Database down, read-only or refusing permission: views stay queued and spooled, retried every
      second; over ``max_pending`` views ``add`` raises ``BufferFull`` (the API answers 503).
    - A view that fails alone while others in its batch succeed is appended to the spool's
      dead-letter file and logged once, so it cannot hold back the rest.
    Without a spool (tests) the same holds except across a killed process.
    """

    def __init__(
        self,
        write: Write,
        interval: float,
        max_batch: int,
        max_pending: int,
        *,
        spool_dir: str | os.PathLike | None = None,
        codec: Codec | None = None,
    ):
        self.write = write
        self.interval = interval
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.spool_dir = spool_dir
        self.codec = codec
        self.spool: Spool | None = None
        self._items: list[_Item] = []
        self._lock = threading.Lock()  # guards _items and spool appends' order
        self._flush_lock = threading.Lock()  # one writer at a time in this process
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._next_replay = 0.0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, pending: Pending) -> bool:
        """Spool and queue one admitted view. False when closed (the caller stores it directly); raises
        ``BufferFull`` over ``max_pending`` and ``SpoolError`` when the disk refuses."""
        if self._stopping:
            return False
        self.start()
        record = self.codec.encode(pending) if self.spool is not None and self.codec is not None else None
        with self._lock:
            if len(self._items) >= self.max_pending:
                raise BufferFull(len(self._items))
            segment = self.spool.append(record) if record is not None else None
            self._items.append(_Item(pending, segment))
            size = len(self._items)
        if size >= self.max_batch:
            self._wake.set()
        return True

    def flush(self) -> int:
        """Write everything queued now; returns the number of views written (or dead-lettered). Raises
        when the database refuses, after putting the unwritten views back."""
        written = 0
        with self._flush_lock:
            while True:
                with self._lock:
                    batch = self._items[: self.max_batch]
                    del self._items[: self.max_batch]
                if not batch:
                    return written
                try:
                    self.write([item.pending for item in batch])
                except (OperationalError, InterfaceError):
                    self._put_back(batch)
                    raise
                except Exception as exc:
                    logger.warning(
                        "ingest batch of %d failed (%s); writing its views one by one", len(batch), exc
                    )
                    self._write_one_by_one(batch)
                else:
                    self._committed(batch)
                written += len(batch)

    def _put_back(self, items: list[_Item]) -> None:
        with self._lock:
            self._items[:0] = items
        # The connection may be dead: let the next attempt open a fresh one.
        db_connection.close()

    def _write_one_by_one(self, batch: list[_Item]) -> None:
        """Write views alone; drop only those that fail while others succeed (or keep failing from a bug).
        When the first few all fail, the database refuses everything: put the batch back and raise.

        "Others" are items of the same kind: a database taking custom events while it refuses page views
        (a permission revoked on one table) says nothing against the views, which are kept."""
        succeeded: set[type] = set()
        failed: list[tuple[_Item, Exception]] = []
        for position, item in enumerate(batch):
            try:
                self.write([item.pending])
            except (OperationalError, InterfaceError):
                self._put_back(batch[position:] + [item for item, _ in failed])
                raise
            except Exception as exc:
                if refused_by_database(exc):
                    # Not this row: the database refuses this kind of write (a revoked permission, a
                    # read-only transaction). Others may succeed meanwhile, and the fault may end during
                    # this pass: neither makes the rows failing before it look bad. Keep them all.
                    self._put_back(batch[position:] + [item for item, _ in failed])
                    raise
                item.failures += 1
                failed.append((item, exc))
                if not succeeded and len(failed) >= min(_PROBES, len(batch)):
                    # Failed probes go after the rest, so a bad view at the head cannot hold it back.
                    kept = [item for item, exc in failed if not self._expired(item, exc)]
                    self._put_back(batch[position + 1 :] + kept)
                    raise
                continue
            succeeded.add(type(item.pending))
            self._committed([item])
        refused = [(item, exc) for item, exc in failed if type(item.pending) not in succeeded]
        for item, exc in failed:
            if type(item.pending) in succeeded:
                self._dead_letter(item, exc)
        if refused:
            self._put_back([item for item, exc in refused if not self._expired(item, exc)])
            raise refused[0][1]

    def _expired(self, item: _Item, exc: Exception) -> bool:
        """Dead-letter a view that keeps failing with an error that is not the database's (a bug)."""
        if isinstance(exc, DatabaseError) or item.failures < _MAX_FAILURES:
            return False
        self._dead_letter(item, exc)
        return True

    def _dead_letter(self, item: _Item, exc: Exception) -> None:
        pending = item.pending
        logger.error(
            "ingest: dropped %s %s of site %s after %d failure(s): %s: %s%s",
            "event on view" if hasattr(pending, "uid") else "view",
            pending.event.view_id,
            pending.site.pk,
            item.failures,
            type(exc).__name__,
            exc,
            f" (kept in {self.spool.directory})" if self.spool is not None else "",
        )
        if self.spool is not None and self.codec is not None:
            self.spool.dead_letter(self.codec.encode(pending), f"{type(exc).__name__}: {exc}")
        self._committed([item])

    def _committed(self, items: list[_Item]) -> None:
        if self.spool is not None:
            self.spool.committed([item.segment for item in items if item.segment is not None])

    def replay(self) -> int:
        """Adopt segments of workers that are gone and queue their views; returns how many. Views of a
        deleted site are dropped. Raises on a database error (the segment stays for a later attempt)."""
        if self.spool is None or self.codec is None:
            return 0
        queued = 0
        for segment, records in self.spool.orphans():
            if len(self._items) + len(records) > self.max_pending:
                self.spool.release(segment)
                continue
            try:
                pendings, gone = self.codec.decode(records)
            except Exception:
                self.spool.release(segment)
                raise
            items = [_Item(pending, segment) for pending in pendings]
            self.spool.adopt(segment, len(items))
            with self._lock:
                self._items.extend(items)
            queued += len(items)
            logger.warning(
                "ingest: adopted %s of a stopped worker: %d views to store%s",
                segment.path.name,
                len(items),
                f", {gone} of deleted sites dropped" if gone else "",
            )
        return queued

    def close(self, timeout: float = 25.0, outage_timeout: float = 5.0) -> None:
        """Stop the thread and write what is left (worker exit; safe to call twice). With the database
        down, gives up after ``outage_timeout`` and leaves the views in the spool for the next worker."""
        if os.getpid() != self._pid:
            return
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        deadline = time.monotonic() + (outage_timeout if self.spool is not None else timeout)
        while self._items:
            try:
                self.flush()
            except Exception:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        left = len(self._items)
        if self.spool is not None:
            left = self.spool.close()
            if left:
                logger.error(
                    "ingest: database unreachable at exit; %d views left in the spool %s for the next worker",
                    left,
                    self.spool.directory,
                )
        elif left:
            logger.error("ingest buffer: database unreachable at exit, %d views lost", left)
        db_connection.close()

    def start(self) -> None:
        """Start the background thread in this process (on first use, or at worker start to replay)."""
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                # Forked after use: the parent's thread, views and spool segments are not ours.
                self._pid, self._items, self._thread, self.spool = os.getpid(), [], None, None
            if self._thread is not None:
                return
            if self.spool_dir is not None and self.spool is None:
                self.spool = Spool(self.spool_dir)
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
                if time.monotonic() >= self._next_replay:
                    self._next_replay = time.monotonic() + _REPLAY_SECONDS
                    self.replay()
                self.flush()
                if self.spool is not None:
                    self.spool.rotate_idle()
            except Exception as exc:
                logger.warning("ingest buffer: %s; %d views kept for the next attempt", exc, len(self))
                self._next_replay = 0.0  # adopt orphans as soon as the database is back
                time.sleep(min(1.0, self.interval * 10))
        db_connection.close()


_buffer: IngestBuffer | None = None
_buffer_lock = threading.Lock()


def get_buffer(write: Write, codec: Codec | None = None) -> IngestBuffer:
    """This process's buffer, created on first use from the ``INGEST_BUFFER_*`` and ``INGEST_SPOOL_DIR``
    settings with ``write`` (and ``codec`` for the spool)."""
    global _buffer
    if _buffer is None:
        with _buffer_lock:
            if _buffer is None:
                _buffer = IngestBuffer(
                    write,
                    interval=settings.INGEST_BUFFER_INTERVAL_MS / 1000,
                    max_batch=settings.INGEST_BUFFER_MAX_BATCH,
                    max_pending=settings.INGEST_BUFFER_MAX_PENDING,
                    spool_dir=spool_directory() if codec is not None else None,
                    codec=codec,
                )
    return _buffer


def spool_directory() -> Path:
    """``INGEST_SPOOL_DIR``/<database>: a spooled view is replayed only into the database it was meant for
    (two installs, or test runs, sharing one spool directory never store each other's views)."""
    database = settings.DATABASES["default"]
    identity = "|".join(str(database.get(key) or "") for key in ("ENGINE", "HOST", "PORT", "NAME"))
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(database.get("NAME") or "db")).strip("_")[-40:]
    return Path(settings.INGEST_SPOOL_DIR) / f"{name}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


def close_buffer() -> None:
    """Write every buffered view of this process now and stop its thread (worker exit hooks)."""
    if _buffer is not None:
        _buffer.close()


__all__ = [
    "BufferFull",
    "Codec",
    "IngestBuffer",
    "SpoolError",
    "close_buffer",
    "get_buffer",
    "spool_directory",
]
