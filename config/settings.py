"""ReportIn settings. Every deployment choice comes from the environment (README has the table).

With nothing set, the project runs on one machine with no services: a SQLite file and a
file-system message transport under DATA_DIR, consumed by a real Celery worker process.
"""

import base64
import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_rate, env_str
from enforcement.crypto import parse_keyring as _parse_keyring

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("REPORTIN_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DJANGO_DEBUG", False)


def _ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


_DEV_SECRET = "dev-only-insecure-secret-key-never-use-in-production-0123456789"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else None, required=not DEBUG)
if not DEBUG and (SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a random string of at least 50 characters")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "enforcement",
    "reportin",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "reportin.api.middleware.RequestLogMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "enforcement.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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

# --- Database -------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'reportin.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0))
except Exception as exc:  # dj_database_url raises several types for malformed URLs
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _ensure_dir(Path(_db["NAME"]).parent)
    # Our SQLite backend keeps append-only tables append-only while still letting the
    # test runner empty them (see config/sqlite/base.py).
    _db["ENGINE"] = "config.sqlite"
    _db["CONN_MAX_AGE"] = 0
    # WAL lets the web process read while the worker writes; IMMEDIATE takes the write lock
    # at BEGIN so two writers queue on the busy timeout instead of failing with "locked".
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that a worker process started by a test sees the test data.
    _db["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)
else:
    raise ImproperlyConfigured(f"DATABASE_URL must be a sqlite:// or postgres:// URL, not {_db['ENGINE']}")
DATABASES = {"default": _db}

# --- Celery ---------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
_broker_scheme = urlsplit(CELERY_BROKER_URL).scheme
if _broker_scheme not in {"filesystem", "redis", "rediss", "amqp", "pyamqp"}:
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL scheme {_broker_scheme!r} is not supported: use filesystem://, redis:// or amqp://"
    )
if _broker_scheme == "filesystem":
    _broker_dir = _ensure_dir(DATA_DIR / "broker")
    _ensure_dir(_broker_dir / "queue")
    _ensure_dir(_broker_dir / "control")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Recovery bounds (README: Reliability). A message whose worker died unacknowledged comes
    # back after the visibility timeout, looked for every `unacked_restore_interval` seconds
    # (kombu's default scans only every 10th interval: 100 s). The timeout must outlast the
    # longest a live worker holds a message (a retry's countdown, at most 60 s, plus the hard
    # time limit); if it did not, the duplicate would still change nothing (the claim).
    # The reconciler (config/celery.py) covers anything the broker itself loses.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 120, minimum=30),
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        # A broker that vanishes without closing the connection must not hang a publish (a
        # check-in request) forever.
        "socket_timeout": 10,
        "socket_connect_timeout": 3,
    }
# The web process publishes after commit: with the broker down, give up after one quick retry and
# leave the check-in to the reconciler rather than keep the phone waiting (~0.1 s added).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.1, "interval_step": 0.1, "interval_max": 0.1}
# Workers and beat wait for a broker that is down for as long as it takes (the default gives
# up after 100 attempts and stops the worker).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Cache ----------------------------------------------------------------------------------

# Request-rate counters live here, shared by every web process. The embedded default is a
# folder (no server); production points CACHE_URL at Redis, whose counters are atomic.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
else:
    raise ImproperlyConfigured("CACHE_URL must be empty (a folder under REPORTIN_DATA_DIR) or a redis:// URL")

# --- Files ----------------------------------------------------------------------------------

# Selfies and reference photos live here, encrypted, and are never served by URL: the only
# way out is a permission-checked view that records the access.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media"))).resolve()
STATIC_URL = "/static/"
STATIC_ROOT = _ensure_dir(Path(env_str("STATIC_ROOT", str(DATA_DIR / "static"))).resolve())
STORAGES = {
    "default": {"BACKEND": "enforcement.storage.PrivateEncryptedStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Encryption keys for biometric data at rest: "id:base64key,id:base64key", newest first.
# Data written with any listed key stays readable; new data uses the first.
_keys = env_str("REPORTIN_ENCRYPTION_KEYS")
if _keys is None:
    if not DEBUG:
        raise ImproperlyConfigured(
            "REPORTIN_ENCRYPTION_KEYS must be set when DJANGO_DEBUG is off "
            "(generate one with: python manage.py generate_encryption_key)"
        )
    # Development only: a key derived from the development secret, so a demo needs no setup.
    _keys = "dev:" + base64.urlsafe_b64encode(hashlib.sha256(("enc:" + SECRET_KEY).encode()).digest()).decode()
REPORTIN_ENCRYPTION_KEYS = _keys
_parse_keyring(REPORTIN_ENCRYPTION_KEYS)  # fail at start-up, not at the first upload

# --- Internationalisation -------------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Authentication -------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- Security -------------------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers and container health checks speak plain HTTP to these.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Upload limits --------------------------------------------------------------------------

REPORTIN_UPLOAD_MAX_BYTES = env_int("REPORTIN_UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# A selfie this size or smaller stays in memory while its request is handled.
FILE_UPLOAD_MAX_MEMORY_SIZE = REPORTIN_UPLOAD_MAX_BYTES + 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
# Width x height above which an image is refused before any pixel is decoded.
REPORTIN_IMAGE_MAX_PIXELS = env_int("REPORTIN_IMAGE_MAX_PIXELS", 40_000_000, minimum=10_000)

# --- Domain settings ------------------------------------------------------------------------

REPORTIN_ACTIVATION_CODE_TTL_HOURS = env_int("REPORTIN_ACTIVATION_CODE_TTL_HOURS", 72, minimum=1)
REPORTIN_WINDOW_HORIZON_DAYS = env_int("REPORTIN_WINDOW_HORIZON_DAYS", 14, minimum=1, maximum=92)
REPORTIN_MISSES_FOR_SUPERVISOR = env_int("REPORTIN_MISSES_FOR_SUPERVISOR", 3, minimum=1)
# Distance to the client's face template at or below which a selfie matches. Calibrated with
# `manage.py evaluate_matcher` (docs/face-calibration.md); change it only after re-measuring.
REPORTIN_FACE_THRESHOLD = env_float("REPORTIN_FACE_THRESHOLD", 0.54, minimum=0.0, maximum=2.0)
REPORTIN_TASK_DUE_HOURS = env_int("REPORTIN_TASK_DUE_HOURS", 48, minimum=1)
# Reminders: one when a window opens, one this many hours before it closes (0: none).
REPORTIN_REMINDER_HOURS_BEFORE_CLOSE = env_int("REPORTIN_REMINDER_HOURS_BEFORE_CLOSE", 2, minimum=0, maximum=168)
# Dotted path of the callable that delivers a reminder (enforcement/notifications.py).
REPORTIN_NOTIFICATION_SENDER = env_str("REPORTIN_NOTIFICATION_SENDER", "enforcement.notifications.send_email")

# --- Retention (manage.py purge_expired; daily on beat) -------------------------------------
# Selfies: deleted this many days after their check-in is settled (verified or rejected),
# unless an open task still needs them. The check-in row and its match figures stay.
REPORTIN_RETAIN_SELFIE_DAYS = env_int("REPORTIN_RETAIN_SELFIE_DAYS", 90, minimum=1)
# Reference photos and their face encodings: this many days after the case is closed
# (never while the client has an open task).
REPORTIN_RETAIN_REFERENCE_DAYS = env_int("REPORTIN_RETAIN_REFERENCE_DAYS", 365, minimum=1)
# Rejected reference photos (never used for matching): this many days after upload.
REPORTIN_RETAIN_REJECTED_PHOTO_DAYS = env_int("REPORTIN_RETAIN_REJECTED_PHOTO_DAYS", 30, minimum=1)
# Auditors' background CSV exports (files of log rows): this many days after they were written.
REPORTIN_RETAIN_EXPORT_DAYS = env_int("REPORTIN_RETAIN_EXPORT_DAYS", 7, minimum=1)
# Audit events, consent records, match figures and access records are kept: they are the
# record auditors rely on, and hold no image.

# --- Liveness (README: Liveness) -------------------------------------------------------------

# A check-in must answer a head-turn challenge (POST /api/v1/check-ins/challenge, then 3-5
# frames with the check-in) unless the person's condition allows a single selfie
# (accessibility). Off by default until every client in use (the phones, the benchmarks and
# fault scripts that post single selfies) sends frames; set it to 1 in production.
REPORTIN_LIVENESS_REQUIRED = env_bool("REPORTIN_LIVENESS_REQUIRED", False)
# How long a challenge may be answered: long enough to turn the head three times on a slow
# phone, short enough that frames cannot be prepared after seeing the poses.
REPORTIN_LIVENESS_CHALLENGE_SECONDS = env_int("REPORTIN_LIVENESS_CHALLENGE_SECONDS", 120, minimum=30, maximum=600)

# --- Accountability -------------------------------------------------------------------------

# Share (0..1) of automatic face matches sent to an officer as a `quality_sample` task, so that
# false matches can be estimated too (reportin.services; the choice is a keyed hash of the
# check-in: reproducible, not guessable from outside).
REPORTIN_QUALITY_SAMPLE_SHARE = env_float("REPORTIN_QUALITY_SAMPLE_SHARE", 0.02, minimum=0.0, maximum=1.0)
# Auditor CSV exports up to this many rows are streamed at once; longer ones are written by a
# worker while the page shows their progress.
REPORTIN_EXPORT_STREAM_MAX_ROWS = env_int("REPORTIN_EXPORT_STREAM_MAX_ROWS", 5000, minimum=1)
# In the accountability report, a rate over fewer cases than this is marked too small to judge.
REPORTIN_REPORT_MIN_GROUP = env_int("REPORTIN_REPORT_MIN_GROUP", 30, minimum=1)

# --- Email (reminders) ----------------------------------------------------------------------

_EMAIL_BACKENDS = {
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
}
_email_backend = env_str("EMAIL_BACKEND", "file")
if _email_backend not in _EMAIL_BACKENDS and "." not in _email_backend:
    raise ImproperlyConfigured(f"EMAIL_BACKEND={_email_backend!r}: use file, console, smtp or a dotted path")
EMAIL_BACKEND = _EMAIL_BACKENDS.get(_email_backend, _email_backend)
# The file backend writes each message to a file here, where anyone can read it.
EMAIL_FILE_PATH = str(Path(env_str("EMAIL_FILE_PATH", str(DATA_DIR / "mail"))).resolve())
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ReportIn <no-reply@localhost>")

# --- API ------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "reportin.api.errors.exception_handler",
    # How many reverse proxies in front of gunicorn append to X-Forwarded-For. 0 (the default)
    # ignores the header: a client could otherwise name any address it likes.
    "NUM_PROXIES": env_int("REPORTIN_TRUSTED_PROXIES", 0, minimum=0, maximum=5),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ReportIn mobile API",
    "DESCRIPTION": "The API the ReportIn phone app uses to activate, give consent and check in.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc are served from this site (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"LanguageEnum": "enforcement.models.Language.choices"},
}
# Requests allowed per device, per client address, and per address for requests without a
# token (activation, consent text), as "N/second|minute|hour|day".
REPORTIN_RATE_DEVICE = env_rate("REPORTIN_RATE_DEVICE", "120/minute")
REPORTIN_RATE_ADDRESS = env_rate("REPORTIN_RATE_ADDRESS", "1200/minute")
REPORTIN_RATE_ANONYMOUS = env_rate("REPORTIN_RATE_ANONYMOUS", "60/minute")
# The benchmark's baseline endpoint (upload and save only). Never in production.
REPORTIN_BENCH_BASELINE = env_bool("REPORTIN_BENCH_BASELINE", False)

# --- Logging --------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
