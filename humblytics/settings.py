"""Humblytics settings: every knob comes from the environment (see .env.example)."""

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from humblytics.lib.env import check_production_secrets, email_settings, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# Fail closed: off unless set (`make run` and the test settings turn it on).
DEBUG = env_bool("DEBUG", False)

# Development-only values, published here: with DEBUG off a missing value, or one of these, stops start-up.
_DEV_SECRET_KEY = "dev-insecure-humblytics-secret-key-change-me"
_DEV_FIELD_KEY = "ZGV2LW9ubHktaHVtYmx5dGljcy1maWVsZC1rZXktMDA="

SECRET_KEY = env_str("SECRET_KEY") or ""
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")
if not DEBUG:
    check_production_secrets(
        {"SECRET_KEY": [SECRET_KEY] if SECRET_KEY else [], "FIELD_ENCRYPTION_KEYS": FIELD_ENCRYPTION_KEYS},
        published={"SECRET_KEY": _DEV_SECRET_KEY, "FIELD_ENCRYPTION_KEYS": _DEV_FIELD_KEY},
    )
SECRET_KEY = SECRET_KEY or _DEV_SECRET_KEY
FIELD_ENCRYPTION_KEYS = FIELD_ENCRYPTION_KEYS or [_DEV_FIELD_KEY]
for _index, _key in enumerate(FIELD_ENCRYPTION_KEYS):
    try:
        Fernet(_key)
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS entry {_index + 1} is not a valid Fernet key "
            "(32 url-safe base64-encoded bytes)"
        ) from None

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_q",
    "axes",
    "humblytics",
    "tracking",
    "revenue",
    "splittests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "humblytics.lib.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a refused log-in (see AXES_* below) into the "too many attempts" page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "humblytics.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "humblytics.wsgi.application"

try:
    DATABASES = {
        "default": dj_database_url.parse(
            env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # JIT compilation cost over a second on report queries that run in tens of milliseconds.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the qcluster worker read while the other writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not shared-cache memory: concurrent live-server requests in tests must wait, not fail.
    # One file per test process, so parallel runs never clobber each other's database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

REDIS_URL = env_str("REDIS_URL") or ""

# Rate limits (ingest, logins) count in this cache: Redis shares them across workers and machines;
# without Redis each process counts on its own (fine for one machine, documented in the README).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "humblytics"}
    }

INGEST_RATE_PER_IP = env_int("INGEST_RATE_PER_IP", 300, minimum=0)  # events per minute; 0: no limit
INGEST_RATE_PER_SITE = env_int("INGEST_RATE_PER_SITE", 60_000, minimum=0)  # events per minute; 0: no limit
# Buffered ingest (tracking/buffer.py IngestBuffer): the event API answers 202 once a view is admitted and a
# background thread per worker writes views in batches. On by default in production, off with DEBUG (tests,
# development) so a stored view is visible as soon as the request returns.
INGEST_BUFFER = env_bool("INGEST_BUFFER", not DEBUG)
INGEST_BUFFER_INTERVAL_MS = env_int("INGEST_BUFFER_INTERVAL_MS", 100, minimum=5, maximum=10_000)
INGEST_BUFFER_MAX_BATCH = env_int("INGEST_BUFFER_MAX_BATCH", 500, minimum=1, maximum=5_000)
INGEST_BUFFER_MAX_PENDING = env_int("INGEST_BUFFER_MAX_PENDING", 50_000, minimum=1)
# Each web worker appends admitted views here before answering 202 (tracking/spool.py); a local disk.
INGEST_SPOOL_DIR = env_str("INGEST_SPOOL_DIR") or str(BASE_DIR / ".spool")
# Custom events (tracking/events.py): distinct event names and property keys a site may have; an event
# with a new one beyond these is dropped (202 "event_limit", counted on Settings). Known ones keep working.
EVENT_NAMES_PER_SITE = env_int("EVENT_NAMES_PER_SITE", 500, minimum=1, maximum=100_000)
EVENT_PROP_KEYS_PER_SITE = env_int("EVENT_PROP_KEYS_PER_SITE", 200, minimum=1, maximum=100_000)
# Dashboard reports read finished days from daily rollup tables (built every minute by the worker).
REPORT_ROLLUPS = env_bool("REPORT_ROLLUPS", True)
# Filter slices (tracking/slices.py): the heaviest filter values (at most this many, 0: none) get
# rollups of their own, so a dashboard filtered by one of them reads rollups too.
ROLLUP_SLICES = env_int("ROLLUP_SLICES", 12, minimum=0, maximum=64)
# Report budget (humblytics/reports/budget.py): at most this many reports compute at once across every
# web worker (PostgreSQL advisory locks), each query stopped after the timeout; ingest keeps the rest.
REPORT_CONCURRENCY = env_int("REPORT_CONCURRENCY", max(1, (os.cpu_count() or 2) // 2), minimum=1, maximum=64)
REPORT_QUEUE_SECONDS = env_int("REPORT_QUEUE_SECONDS", 10, minimum=0, maximum=120)
REPORT_STATEMENT_TIMEOUT_MS = env_int("REPORT_STATEMENT_TIMEOUT_MS", 30_000, minimum=100, maximum=600_000)
LOGIN_FAILURES_ALLOWED = env_int("LOGIN_FAILURES_ALLOWED", 5, minimum=1)  # per username and IP per 15 min
# Anyone may create an account at /accounts/signup/ (true), or only operators add users (false).
SIGNUP_OPEN = env_bool("SIGNUP_OPEN", True)
SIGNUP_RATE_PER_IP = env_int("SIGNUP_RATE_PER_IP", 10, minimum=0)  # sign-up POSTs per hour; 0: no limit
# Days a team invitation link (sent to an e-mail address without an account) keeps working.
INVITATION_VALID_DAYS = env_int("INVITATION_VALID_DAYS", 7, minimum=1, maximum=90)
# Password reset e-mails requested per client address and per e-mail address per hour; 0: no limit.
PASSWORD_RESETS_PER_HOUR = env_int("PASSWORD_RESETS_PER_HOUR", 5, minimum=0)
# Stripe key checks (each ~10 calls to Stripe from this server) per hour, per user and per site; 0: no limit.
STRIPE_KEY_CHECKS_PER_HOUR = env_int("STRIPE_KEY_CHECKS_PER_HOUR", 10, minimum=0)

# Log-in throttle (django-axes) for /accounts/login/ and /admin/login/ alike: it sits in the
# authentication backends, so every log-in form goes through it. Failures count per user name AND client
# address together, so an attacker can exhaust only their own tries: not another address's, nor a user's
# from elsewhere. The address is the one ingest uses (TRUSTED_PROXY_COUNT). Counts live in the database,
# shared by every worker, and expire 15 minutes after the last failure; a success clears them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURES_ALLOWED
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "tracking.access.login_client_key"  # a keyed digest, never the raw address
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # no record of successful log-ins (addresses, user agents)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

Q_CLUSTER = {
    "name": "humblytics",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": 600,
    "retry": 900,
    # A failing task is retried a few times, then left in the failed list.
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 500,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["humblytics.lib.api.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tracking.access.SiteKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": ["tracking.access.ApiKeyThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": env_str("API_THROTTLE_RATE") or "600/min"},
    "EXCEPTION_HANDLER": "humblytics.lib.api.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Humblytics API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "Traffic and Stripe revenue attribution for one site per API key.",
}

STRIPE_API_BASE = env_str("STRIPE_API_BASE") or "https://api.stripe.com"
STRIPE_SYNC_INTERVAL_MINUTES = env_int("STRIPE_SYNC_INTERVAL_MINUTES", 5, minimum=1, maximum=1440)
# Client-side ceilings, well under Stripe's 100/s live and 25/s test (shared with the merchant's traffic).
STRIPE_REQUESTS_PER_SECOND_LIVE = env_int("STRIPE_REQUESTS_PER_SECOND_LIVE", 20, minimum=1, maximum=90)
STRIPE_REQUESTS_PER_SECOND_TEST = env_int("STRIPE_REQUESTS_PER_SECOND_TEST", 5, minimum=1, maximum=1000)
STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 3, minimum=0, maximum=10)
STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 20, minimum=1, maximum=120)
STRIPE_BACKOFF_SECONDS = 1.0
STRIPE_BACKFILL_DAYS = env_int("STRIPE_BACKFILL_DAYS", 90, minimum=1, maximum=3650)
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=10)
COUNTRY_HEADER = env_str("COUNTRY_HEADER") or ""
# Optional MaxMind-format (.mmdb) country or city database, e.g. GeoLite2-Country.mmdb.
GEOIP_DATABASE = env_str("GEOIP_DATABASE") or ""

# E-mail (password resets, invitations): printed on the console unless EMAIL_URL or EMAIL_HOST is set.
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "Humblytics <humblytics@localhost>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1, maximum=300)
if env_str("EMAIL_URL"):
    globals().update(email_settings(env_str("EMAIL_URL")))
elif env_str("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env_str("EMAIL_HOST")
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER") or ""
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD") or ""
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
if globals().get("EMAIL_USE_TLS") and globals().get("EMAIL_USE_SSL"):
    raise ImproperlyConfigured(
        "EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true (STARTTLS or implicit TLS)"
    )

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL") or "INFO"},
    # axes: lockouts are warnings; its start-up banner and every single failure are not worth a line.
    "loggers": {"stripe": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
