"""Each web worker's spool: every admitted view (or custom event) is appended to a local file before the
API answers 202.

The spool is what makes a 202 a promise. A view is written here (one ``write`` system call of one JSON
line, no fsync) before the answer, and its file is deleted only once every view in it is committed to
the database. The data is then in the kernel's page cache: a killed process (``kill -9``, an OOM kill,
a crash) loses nothing, because the kernel still writes the file out; an operating-system crash or a
power cut can lose the last seconds not yet written to disk.

Files are segments named ``views-<pid>-<ns>.jsonl``. The owning process holds an exclusive ``flock`` on
each of its segments while it lives; the kernel releases it when the process dies, however it dies. Any
worker may adopt a segment it can lock (its owner is gone) and store its views again: storing is
idempotent by (site, view id), and an event's by its uid, so records already committed change nothing.
A segment is created under a temporary name and renamed once locked, so nobody can adopt a segment its
owner is still opening.

Privacy: a record holds what will be stored (site, page, referrer, the daily-salted visitor hashes,
country, browser, OS, device; an event's name and properties), never the IP address or the user agent.

Views that can never be stored (they fail alone while others succeed) are appended to
``dead-letter.jsonl`` in the same directory with the error, for an operator to inspect.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIX = "views-"
SUFFIX = ".jsonl"
DEAD_LETTER = "dead-letter.jsonl"


class SpoolError(Exception):
    """The spool cannot take a view (disk full, directory not writable): the API answers 503."""


class Segment:
    """One spool file and how many of its views are not yet committed."""

    __slots__ = ("fd", "opened_at", "outstanding", "path", "records", "sealed")

    def __init__(self, path: Path, fd: int, *, outstanding: int = 0, sealed: bool = False):
        self.path = path
        self.fd = fd
        self.outstanding = outstanding
        self.records = outstanding
        self.sealed = sealed
        self.opened_at = time.monotonic()


class Spool:
    """This process's segments in ``directory``. Thread-safe."""

    def __init__(self, directory: str | os.PathLike, segment_views: int = 2000):
        self.directory = Path(directory)
        self.segment_views = segment_views
        self._lock = threading.Lock()
        self._current: Segment | None = None
        self._segments: set[Segment] = set()
        self._pid = os.getpid()
        self.directory.mkdir(parents=True, exist_ok=True)

    # ---- the owner's side -------------------------------------------------------------------------

    def append(self, record: dict) -> Segment:
        """Write one view's record; returns its segment (pass it to ``committed`` once stored)."""
        line = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        with self._lock:
            segment = self._current
            if segment is None or segment.records >= self.segment_views:
                segment = self._open()
            try:
                written = os.write(segment.fd, line)
            except OSError as exc:
                raise SpoolError(f"cannot write to the ingest spool {self.directory}: {exc}") from exc
            if written != len(line):
                # A short write (disk full): the line has no newline, so replay ignores it; nothing may
                # follow it in this file.
                segment.records = self.segment_views
                raise SpoolError(f"the ingest spool {self.directory} is full")
            segment.outstanding += 1
            segment.records += 1
            return segment

    def committed(self, segments: list[Segment]) -> None:
        """One call per stored (or dead-lettered) view, by its segment; deletes segments left empty."""
        with self._lock:
            for segment in segments:
                segment.outstanding -= 1
                if segment.outstanding == 0 and segment.sealed:
                    self._delete(segment)

    def rotate_idle(self, age: float = 2.0) -> None:
        """Close the current segment when all its views are stored and it is ``age`` seconds old, so a
        killed worker leaves little already stored to replay."""
        with self._lock:
            segment = self._current
            if (
                segment is not None
                and segment.outstanding == 0
                and time.monotonic() - segment.opened_at > age
            ):
                self._current = None
                self._delete(segment)

    def adopt(self, segment: Segment, outstanding: int) -> None:
        """Take over an orphan segment locked by ``orphans``: deleted once ``outstanding`` views commit."""
        with self._lock:
            segment.outstanding = outstanding
            segment.sealed = True
            self._segments.add(segment)
            if outstanding == 0:
                self._delete(segment)

    def close(self) -> int:
        """Delete fully stored segments, release the rest (for another worker). Returns views left."""
        if os.getpid() != self._pid:
            return 0
        left = 0
        with self._lock:
            self._current = None
            for segment in list(self._segments):
                if segment.outstanding == 0:
                    self._delete(segment)
                else:
                    left += segment.outstanding
                    self._segments.discard(segment)
                    os.close(segment.fd)
        return left

    def _open(self) -> Segment:
        if self._current is not None:
            self._current.sealed = True
            if self._current.outstanding == 0:
                self._delete(self._current)
        name = f"{PREFIX}{os.getpid()}-{time.time_ns()}{SUFFIX}"
        temporary = self.directory / f".{name}.new"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(temporary, self.directory / name)
        except OSError as exc:
            raise SpoolError(f"cannot create a segment in the ingest spool {self.directory}: {exc}") from exc
        segment = self._current = Segment(self.directory / name, fd)
        self._segments.add(segment)
        return segment

    def _delete(self, segment: Segment) -> None:
        # Unlinked while still locked, so no one adopts it in between.
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        os.close(segment.fd)
        self._segments.discard(segment)
        if self._current is segment:
            self._current = None

    # ---- any worker: segments whose owner is gone --------------------------------------------------

    def orphans(self) -> Iterator[tuple[Segment, list[dict]]]:
        """Segments no live process holds, each locked by this process, with its complete records.

        The caller must ``adopt`` or ``release`` every segment it is given.
        """
        for path in sorted(self.directory.glob(f"{PREFIX}*{SUFFIX}")):
            segment = self._lock_orphan(path)
            if segment is not None:
                yield segment, _read_records(segment.fd, path)

    def release(self, segment: Segment) -> None:
        """Give an orphan back untouched (the database is down): another attempt adopts it later."""
        os.close(segment.fd)

    def _lock_orphan(self, path: Path) -> Segment | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Adopted and deleted by another worker between our open and our lock?
            if os.fstat(fd).st_nlink == 0:
                raise BlockingIOError(errno.ENOENT, "deleted")
        except OSError:
            os.close(fd)
            return None
        return Segment(path, fd, sealed=True)

    def dead_letter(self, record: dict, error: str) -> None:
        """Keep a view that cannot be stored, with the reason, for an operator (never silently lost)."""
        line = json.dumps({"error": error, "view": record}, separators=(",", ":"), ensure_ascii=False)
        try:
            fd = os.open(self.directory / DEAD_LETTER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError:
            logger.exception("cannot write the ingest dead-letter file in %s", self.directory)


def _read_records(fd: int, path: Path) -> list[dict]:
    with os.fdopen(os.dup(fd), "rb") as file:
        data = file.read()
    records = []
    for line in data.split(b"\n")[:-1]:  # the last piece has no newline: a write cut short by a crash
        try:
            records.append(json.loads(line))
        except ValueError:
            logger.error("ingest spool %s: skipped an unreadable line", path.name)
    return records
