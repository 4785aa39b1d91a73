"""The ceilings the ingest benchmark compares against, served on the same stack as production.

The production WSGI application (same settings, middleware and server) with two extra URLs:
``/ceiling/parse`` reads and parses the JSON body and answers 202; ``/ceiling/insert`` does the same
plus one INSERT of a view-shaped row into ``bench_ceiling`` (a table the benchmark creates in its own
throwaway database); ``/ceiling/buffered`` parses, appends the row to a per-process list and answers
202, while a thread writes the list every 100 ms with one ``executemany`` (the least any buffered
pipeline must do: no validation, enrichment, hashing, sessions or spool). Nothing here is imported by
the product.
"""

import json
import threading
import time

from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from humblytics.wsgi import application  # noqa: F401  (the server's entry point)


@csrf_exempt
def parse_only(request):
    data = json.loads(request.body)
    if not isinstance(data, dict):
        return JsonResponse({"error": "body must be a JSON object"}, status=400)
    return JsonResponse({"ok": True}, status=202)


@csrf_exempt
def parse_and_insert(request):
    data = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_ceiling (site_id, session_id, view_id, created_at, hostname, page,"
            " screen_width, variant) VALUES (1, 1, %s, now(), %s, %s, %s, '')",
            [data["view_id"], "bench.example", data["url"][:500], data.get("screen_width")],
        )
    return JsonResponse({"ok": True}, status=202)


_pending: list[tuple] = []
_pending_lock = threading.Lock()
_writer: threading.Thread | None = None


def _write_forever() -> None:
    while True:
        time.sleep(0.1)
        with _pending_lock:
            rows = _pending[:]
            del _pending[:]
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO bench_ceiling (site_id, session_id, view_id, created_at, hostname, page,"
                    " screen_width, variant) VALUES (1, 1, %s, now(), %s, %s, %s, '')",
                    rows,
                )


@csrf_exempt
def parse_and_buffer(request):
    global _writer
    data = json.loads(request.body)
    with _pending_lock:
        if _writer is None:
            _writer = threading.Thread(target=_write_forever, daemon=True)
            _writer.start()
        _pending.append((data["view_id"], "bench.example", data["url"][:500], data.get("screen_width")))
    return JsonResponse({"ok": True}, status=202)


urlpatterns = [
    path("ceiling/parse", parse_only),
    path("ceiling/insert", parse_and_insert),
    path("ceiling/buffered", parse_and_buffer),
    path("", include("humblytics.urls")),
]

# Route through this module without touching humblytics/settings.py: the handler reads ROOT_URLCONF
# on every request.
from django.conf import settings  # noqa: E402

settings.ROOT_URLCONF = __name__
