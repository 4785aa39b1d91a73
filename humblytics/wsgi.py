"""
WSGI config for humblytics project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/

Production serves it with granian (see gunicorn.conf.py for the documented gunicorn alternative):
    granian --interface wsgi --host 0.0.0.0 --port 8000 --workers 2 --blocking-threads 1
        --backpressure 64 --no-ws --respawn-failed-workers humblytics.wsgi:application
(--workers: one per core; measured by bench/ingest.py).
Each worker imports this module after forking, so what runs below runs once per worker, before its
first request instead of during it: a wrong DATABASE_URL stops the worker here with a clear message (a
database that is only down does not: the ingest spool keeps views until it is back), then the warm-up
fetches the day's salts and starts the ingest buffer, which stores views left in the spool by workers
that stopped.
"""

import os

from django.core.wsgi import get_wsgi_application

from humblytics.lib.database import check_database

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humblytics.settings")

# Before loading the apps (a second or two): a worker that fails fast is seen by granian as a crash loop
# (--respawn-failed-workers) and the server exits with the message instead of respawning forever.
check_database()
application = get_wsgi_application()

from tracking import ingest  # noqa: E402  (needs the app registry loaded above)

ingest.warm_up()
