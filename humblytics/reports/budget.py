"""How much of the database a report may take, so that a slow report never delays a beacon.

Every report request (the dashboard, the reports API) runs in one transaction that:

- holds one of ``REPORT_CONCURRENCY`` report slots for the whole cluster: a PostgreSQL advisory lock
  taken for the transaction, so however many web workers there are, at most that many reports
  compute at once and the rest of the machine (ingest above all) keeps its share of the CPUs. A
  report that finds every slot taken waits up to ``REPORT_QUEUE_SECONDS``, then is answered 503;
- sets ``statement_timeout`` to ``REPORT_STATEMENT_TIMEOUT_MS``: a query past it is cancelled by
  PostgreSQL and the page says so instead of holding a worker for minutes.

SQLite (a single-user local run) has neither; the decorator then only runs the view.
"""

import functools
import time

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

# The advisory-lock namespace of report slots ("HMBL"), so they never collide with other locks.
_LOCK_CLASS = 0x484D424C


class ReportBusy(Exception):
    """Every report slot stayed taken for ``REPORT_QUEUE_SECONDS``."""


def budgeted(*, api: bool):
    """Decorate a report view: one slot, a statement timeout, and a plain 503 when either runs out."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                with transaction.atomic():
                    _take_slot()
                    return view(request, *args, **kwargs)
            except ReportBusy:
                return _unavailable(
                    request, api, "Reports are busy right now; try again in a few seconds.", 5
                )
            except OperationalError as exc:
                if getattr(exc.__cause__, "sqlstate", None) != "57014":  # query_canceled
                    raise
                seconds = settings.REPORT_STATEMENT_TIMEOUT_MS / 1000
                message = (
                    f"This report took longer than {seconds:g} s and was stopped. "
                    "Try a shorter period or fewer filters."
                )
                return _unavailable(request, api, message, 30)

        return wrapper

    return decorate


def _take_slot() -> None:
    if connection.vendor != "postgresql":
        return
    slots = settings.REPORT_CONCURRENCY
    deadline = time.monotonic() + settings.REPORT_QUEUE_SECONDS
    pause = 0.02
    with connection.cursor() as cursor:
        timeout = str(settings.REPORT_STATEMENT_TIMEOUT_MS)
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [timeout])
        while True:
            for slot in range(slots):
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, slot])
                if cursor.fetchone()[0]:
                    return
            if time.monotonic() >= deadline:
                raise ReportBusy
            time.sleep(pause)
            pause = min(pause * 2, 0.25)


def _unavailable(request, api: bool, message: str, retry_after: int) -> HttpResponse:
    if api:
        response = JsonResponse({"error": message}, status=503)
    else:
        response = render(request, "reports/unavailable.html", {"message": message}, status=503)
    response["Retry-After"] = str(retry_after)
    return response
