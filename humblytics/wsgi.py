"""
WSGI config for humblytics project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/

Production serves it with granian (see gunicorn.conf.py for the documented gunicorn alternative):
    granian --interface wsgi --host 0.0.0.0 --port 8000 --workers 2 --blocking-threads 1
        --backpressure 64 --no-ws humblytics.wsgi:application
(--workers: one per core; measured by bench/ingest.py).
Each worker imports this module after forking, so the warm-up below runs once per worker, before its
first request instead of during it.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humblytics.settings")

application = get_wsgi_application()

from tracking import ingest  # noqa: E402  (needs the app registry loaded above)

ingest.warm_up()
