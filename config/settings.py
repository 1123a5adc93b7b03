"""ReportIn settings. Every deployment choice comes from the environment (README has the table).

With nothing set, the project runs on one machine with no services: a SQLite file and a
file-system message transport under DATA_DIR, consumed by a real Celery worker process.
"""

import hashlib
import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from biometrics import calibration as _calibration
from config import devsecrets
from config.devsecrets import private_dir
from config.env import env_bool, env_float, env_int, env_list, env_rate, env_str
from enforcement.crypto import parse_keyring as _parse_keyring

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("REPORTIN_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DJANGO_DEBUG", False)


def _ensure_dir(path: Path) -> Path:
    # 0700: the embedded defaults keep personal data here (the database, mails, photos).
    return private_dir(path)


# The embedded defaults' folder holds the database, mails and development secrets: only its
# owner may enter it (a folder made by an earlier version may still be open to all).
_ensure_dir(DATA_DIR)
if DATA_DIR == BASE_DIR / "var" and stat.S_IMODE(DATA_DIR.stat().st_mode) & 0o077:
    os.chmod(DATA_DIR, 0o700)

# --- Development mode: secrets ----------------------------------------------------------------

# Debug without DJANGO_SECRET_KEY (the one-machine demo, `dev.py run`) uses a secret and a photo
# key made at random on first start and kept in DATA_DIR/dev-secrets.json (mode 0600), never a
# public constant: anyone could otherwise sign an admin session or decrypt every stored photo.
_dev_secrets = None
if DEBUG and not env_str("DJANGO_SECRET_KEY"):
    if not env_str("DATABASE_URL", "sqlite:").startswith("sqlite:"):
        # A real database is someone's data: its sessions and photos must not hang on a secret
        # kept in a file next to the code.
        raise ImproperlyConfigured(
            "DJANGO_DEBUG is on with a non-SQLite DATABASE_URL: set DJANGO_SECRET_KEY (and REPORTIN_ENCRYPTION_KEYS) "
            "for that database, or turn debug off"
        )
    _dev_secrets = devsecrets.load_or_create(DATA_DIR)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _dev_secrets["secret_key"] if _dev_secrets else None, required=not DEBUG)
if not _dev_secrets and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a random string of at least 50 characters")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # Django's admin with the ReportIn site (branding, the "My work" landing, supervisors' pages).
    "backoffice.apps.ReportInAdminConfig",
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
    "backoffice",
]

MIDDLEWARE = [
    # /metrics for Prometheus, then the request id (X-Request-ID) and each request's latency
    # (config/observability.py).
    "config.observability.MetricsEndpointMiddleware",
    "config.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "backoffice.middleware.StaffSessionMiddleware",
    "backoffice.middleware.StaffTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "reportin.api.middleware.RequestLogMiddleware",
    "reportin.api.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "enforcement.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # backoffice's templates come before the admin app's own: admin/base_site.html (skip link,
        # landmarks, the way to the triage queue) overrides Django's.
        "DIRS": [BASE_DIR / "templates", BASE_DIR / "backoffice" / "templates"],
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
    _sqlite_file = Path(_db["NAME"])
    _ensure_dir(_sqlite_file.parent)
    # 0600 before SQLite first opens it: SQLite gives its -wal and -shm files the same mode.
    if _db["NAME"] != ":memory:":
        os.close(os.open(_sqlite_file, os.O_CREAT | os.O_WRONLY, 0o600))
        if stat.S_IMODE(_sqlite_file.stat().st_mode) & 0o077:
            os.chmod(_sqlite_file, 0o600)
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
# Seconds after which Redis delivers again a message its worker has not acknowledged.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 120, minimum=10)
# No task may outlive the visibility timeout, or Redis would hand its message to a second
# worker while the first still runs it (an 80 s task ran three times at once with 30 s).
# Every task gets these limits unless it sets its own (scoring does, lower); long jobs work
# in chunks of at most REPORTIN_LONG_TASK_BUDGET seconds and queue their own continuation.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", min(300, CELERY_VISIBILITY_TIMEOUT * 3 // 4), minimum=5)
if CELERY_TASK_TIME_LIMIT >= CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be below CELERY_VISIBILITY_TIMEOUT")
CELERY_TASK_SOFT_TIME_LIMIT = max(3, CELERY_TASK_TIME_LIMIT * 5 // 6)
# A long job's chunk stops taking more work after this many seconds and queues the rest.
REPORTIN_LONG_TASK_BUDGET = env_float("REPORTIN_LONG_TASK_BUDGET", CELERY_TASK_SOFT_TIME_LIMIT / 3, minimum=0.5)
if REPORTIN_LONG_TASK_BUDGET >= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("REPORTIN_LONG_TASK_BUDGET must be below the tasks' soft time limit")
# Rows of an export written per part (each part is one idempotent, committed step).
REPORTIN_EXPORT_CHUNK_ROWS = env_int("REPORTIN_EXPORT_CHUNK_ROWS", 20_000, minimum=1)
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
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
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
# Exactly one beat sends: the others stand by until its lock is free (config/beat.py).
CELERY_BEAT_SCHEDULER = "config.beat:LockedScheduler"
# Celery's own defaults, stated because Celery reads them on every publish: a setting Django
# does not have is a failed lookup (an exception caught) each time, a sixth of the CPU of
# queueing a check-in's scoring (issue 16.5).
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_TASK_REPR_MAXLEVELS = 3
CELERY_BROKER_POOL_ACQUIRE_TIMEOUT = None

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
# Where selfies, reference photos, liveness frames and exports go. Empty: the folder above
# (embedded default, one host). A bucket name: an S3-compatible object store shared by every
# web and worker host (SeaweedFS in development and CI; see README "Object storage"). Files
# are encrypted by the application either way; the store only ever holds ciphertext.
REPORTIN_S3_BUCKET = env_str("REPORTIN_S3_BUCKET", "")
if REPORTIN_S3_BUCKET:
    _s3_endpoint = env_str("REPORTIN_S3_ENDPOINT_URL", "")
    if _s3_endpoint and urlsplit(_s3_endpoint).scheme not in ("http", "https"):
        raise ImproperlyConfigured("REPORTIN_S3_ENDPOINT_URL must be an http:// or https:// URL")
    _private_storage = {
        "BACKEND": "enforcement.storage.S3EncryptedStorage",
        "OPTIONS": {
            "bucket_name": REPORTIN_S3_BUCKET,
            "endpoint_url": _s3_endpoint or None,
            "access_key": env_str("REPORTIN_S3_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("REPORTIN_S3_SECRET_ACCESS_KEY", "") or None,
            "region_name": env_str("REPORTIN_S3_REGION", "us-east-1"),
            # A key prefix, so that one bucket can serve several deployments.
            "location": env_str("REPORTIN_S3_PREFIX", "").strip("/"),
        },
    }
else:
    _private_storage = {"BACKEND": "enforcement.storage.PrivateEncryptedStorage"}
STORAGES = {
    # Every file field without its own storage uses this one, new ones included.
    "default": _private_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Encryption keys for biometric data at rest: "id:base64key,id:base64key", newest first.
# Data written with any listed key stays readable; new data uses the first.
_keys = env_str("REPORTIN_ENCRYPTION_KEYS")
if _keys is None:
    if not _dev_secrets:
        raise ImproperlyConfigured(
            "REPORTIN_ENCRYPTION_KEYS must be set when DJANGO_DEBUG is off or DJANGO_SECRET_KEY is set "
            "(generate one with: python manage.py generate_encryption_key)"
        )
    # Development only: the random key made with the development secret (see above).
    _keys = _dev_secrets["encryption_keys"]
REPORTIN_ENCRYPTION_KEYS = _keys
_parse_keyring(REPORTIN_ENCRYPTION_KEYS)  # fail at start-up, not at the first upload

# The audit chain's HMAC key (enforcement/audit.py): kept out of the database, so that whoever
# holds only the database cannot re-hash a rewritten chain. Derived from the secret key when
# unset; set a key of its own in production (changing it later breaks verification of the
# events written before).
REPORTIN_AUDIT_KEY = env_str("REPORTIN_AUDIT_KEY") or hashlib.sha256(("audit:" + SECRET_KEY).encode()).hexdigest()
# Where the chain's head is appended every minute (beat), out of the database's reach.
REPORTIN_AUDIT_HEADS_FILE = str(Path(env_str("REPORTIN_AUDIT_HEADS_FILE", str(DATA_DIR / "audit-heads.log"))).resolve())
# With an object store (REPORTIN_S3_BUCKET), every new head is also put in a bucket of its own
# (default "<bucket>-audit-heads", made by `storage_bucket` with S3 Object Lock) as a write-once
# object kept under COMPLIANCE retention for this many days (0: no retention, the keys are
# still never overwritten). `audit_verify` reads every version of every head there.
REPORTIN_AUDIT_HEADS_BUCKET = env_str("REPORTIN_AUDIT_HEADS_BUCKET", "")
REPORTIN_AUDIT_HEADS_RETENTION_DAYS = env_int("REPORTIN_AUDIT_HEADS_RETENTION_DAYS", 2557, minimum=0)
# "Verify now" on the auditors' dashboard walks a chain of at most this many events in the
# request (about 15,000 events a second on a test machine: 1.3 s); a longer one is verified on
# the worker.
# One biometric access record per visit: a view of the same image by the same person, from the
# same task and address, within this many minutes of the record written for it (a reload, the
# face crop and the whole picture) writes no other. 0: a record for every image served.
REPORTIN_ACCESS_VISIT_MINUTES = env_int("REPORTIN_ACCESS_VISIT_MINUTES", 10, minimum=0)
REPORTIN_AUDIT_VERIFY_IN_PAGE_MAX = env_int("REPORTIN_AUDIT_VERIFY_IN_PAGE_MAX", 20000, minimum=0)
# Whether a biometric blob must be bound to its record (enforcement/crypto.py, RIE3 and RIE4):
# turn on once `manage.py reencrypt` has bound the data written before the binding existed.
REPORTIN_ENCRYPTION_REQUIRE_BINDING = env_bool("REPORTIN_ENCRYPTION_REQUIRE_BINDING", False)

# --- Internationalisation -------------------------------------------------------------------

LANGUAGE_CODE = "en"
# English and French in full; the others as far as translated, English where not (issue 18.9).
LANGUAGES = [("en", "English"), ("fr", "Français"), ("es", "Español"), ("pa", "ਪੰਜਾਬੀ"), ("hi", "हिन्दी"), ("ht", "Kreyòl ayisyen"), ("ar", "العربية")]
LANGUAGES_BIDI = ["ar"]
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

# Staff sign-in (backoffice/services.py). Failed attempts are counted per username and per
# address: the first few cost nothing, then each further attempt waits 1, 2, 4, ... seconds
# (up to the ceiling), and at the lock threshold nothing gets in until a supervisor clears the
# lock in admin. Failures older than the memory are forgotten unless locked.
REPORTIN_LOGIN_FREE_FAILURES = env_int("REPORTIN_LOGIN_FREE_FAILURES", 3, minimum=1, maximum=20)
REPORTIN_LOGIN_MAX_DELAY_SECONDS = env_int("REPORTIN_LOGIN_MAX_DELAY_SECONDS", 300, minimum=1)
REPORTIN_LOGIN_LOCK_USERNAME = env_int("REPORTIN_LOGIN_LOCK_USERNAME", 10, minimum=2, maximum=1000)
# Higher: an office behind one address has many officers.
REPORTIN_LOGIN_LOCK_ADDRESS = env_int("REPORTIN_LOGIN_LOCK_ADDRESS", 50, minimum=2, maximum=100_000)
REPORTIN_LOGIN_FAILURE_MEMORY_SECONDS = env_int("REPORTIN_LOGIN_FAILURE_MEMORY_SECONDS", 24 * 3600, minimum=60)
# Second factor (WebAuthn first, authenticator app as the fallback) for every staff account
# that can open biometric images. The relying-party id defaults to the request's host name.
REPORTIN_WEBAUTHN_RP_ID = env_str("REPORTIN_WEBAUTHN_RP_ID", "")
# How long the browser waits for the person to touch the key.
REPORTIN_WEBAUTHN_TIMEOUT_MS = env_int("REPORTIN_WEBAUTHN_TIMEOUT_MS", 60_000, minimum=10_000, maximum=600_000)
REPORTIN_SECOND_FACTOR_ISSUER = env_str("REPORTIN_SECOND_FACTOR_ISSUER", "ReportIn")
# A staff session unused this long is signed out; its cookie ends with the browser.
REPORTIN_STAFF_IDLE_SECONDS = env_int("REPORTIN_STAFF_IDLE_SECONDS", 15 * 60, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

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

# Where the task page's "open the position on a map" link goes: a URL with {lat} and {lon},
# e.g. https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=15/{lat}/{lon} or the
# agency's own map server. Empty (the default): no link, as following it sends a person's
# position to that site (issue 14.14).
# Tasks of these reasons open with a blind first look (issue 17.4): the officer sees the photos
# and answers "same person?" before the face comparison's distance and threshold are shown, so
# that the first judgement is not anchored on the machine's (the accountability report compares
# the two). Empty: the figures are shown at once.
REPORTIN_BLIND_REVIEW_REASONS = env_list("REPORTIN_BLIND_REVIEW_REASONS", ["face_non_match", "liveness_failed"])
REPORTIN_MAP_URL = env_str("REPORTIN_MAP_URL", "")
if REPORTIN_MAP_URL and (
    not REPORTIN_MAP_URL.startswith("https://") or "{lat}" not in REPORTIN_MAP_URL or "{lon}" not in REPORTIN_MAP_URL
):
    raise ImproperlyConfigured("REPORTIN_MAP_URL must be an https:// URL containing {lat} and {lon}, or empty")

REPORTIN_ACTIVATION_CODE_TTL_HOURS = env_int("REPORTIN_ACTIVATION_CODE_TTL_HOURS", 72, minimum=1)
REPORTIN_WINDOW_HORIZON_DAYS = env_int("REPORTIN_WINDOW_HORIZON_DAYS", 14, minimum=1, maximum=92)
REPORTIN_MISSES_FOR_SUPERVISOR = env_int("REPORTIN_MISSES_FOR_SUPERVISOR", 3, minimum=1)
# Distance to the client's face template at or below which a selfie matches, per number of
# ready references (a template of several photos is steadier, and its impostor distances run
# lower). Chosen by `manage.py evaluate_matcher DIR --calibrate`, which writes this file
# (docs/face-calibration.md); change it only by re-calibrating.
REPORTIN_FACE_CALIBRATION = env_str("REPORTIN_FACE_CALIBRATION", str(BASE_DIR / "biometrics" / "calibration.json"))
try:
    _face_calibration = _calibration.load(Path(REPORTIN_FACE_CALIBRATION))
except _calibration.CalibrationError as exc:
    raise ImproperlyConfigured(f"REPORTIN_FACE_CALIBRATION: {exc}") from None
REPORTIN_FACE_THRESHOLDS = _face_calibration.thresholds
# One threshold for every number of references: set it only to override the calibration
# (an emergency knob); the default is the calibrated threshold of one reference.
REPORTIN_FACE_THRESHOLD = env_float("REPORTIN_FACE_THRESHOLD", REPORTIN_FACE_THRESHOLDS[1], minimum=0.0, maximum=2.0)
if env_str("REPORTIN_FACE_THRESHOLD"):
    REPORTIN_FACE_THRESHOLDS = {1: REPORTIN_FACE_THRESHOLD}
REPORTIN_TASK_DUE_HOURS = env_int("REPORTIN_TASK_DUE_HOURS", 48, minimum=1)
# Reminders: one when a window opens, one this many hours before it closes (0: none).
REPORTIN_REMINDER_HOURS_BEFORE_CLOSE = env_int("REPORTIN_REMINDER_HOURS_BEFORE_CLOSE", 2, minimum=0, maximum=168)
# Dotted path of the callable that delivers a reminder (enforcement/notifications.py).
REPORTIN_NOTIFICATION_SENDER = env_str("REPORTIN_NOTIFICATION_SENDER", "enforcement.notifications.send")
# Delivery (enforcement.channels): messages sent at once per notify task, the claim size, the
# lease after which a message left `sending` by a dead sender is taken again, and per-provider
# sends per second across all workers (0: no limit).
REPORTIN_NOTIFY_CONCURRENCY = env_int("REPORTIN_NOTIFY_CONCURRENCY", 32, minimum=1, maximum=512)
REPORTIN_NOTIFY_CHUNK = env_int("REPORTIN_NOTIFY_CHUNK", 500, minimum=1, maximum=10_000)
REPORTIN_NOTIFY_LEASE_S = env_int("REPORTIN_NOTIFY_LEASE_S", 300, minimum=10)
REPORTIN_NOTIFY_MAX_IN_FLIGHT = env_int("REPORTIN_NOTIFY_MAX_IN_FLIGHT", 20_000, minimum=1)
REPORTIN_CHANNEL_RATES = {
    "email": env_int("REPORTIN_RATE_EMAIL_PER_S", 50, minimum=0),
    "sms": env_int("REPORTIN_RATE_SMS_PER_S", 1000, minimum=0),
    "push": env_int("REPORTIN_RATE_PUSH_PER_S", 1000, minimum=0),
}
REPORTIN_PROVIDER_TIMEOUT_S = env_float("REPORTIN_PROVIDER_TIMEOUT_S", 10.0, minimum=0.1)
# SMS through GC Notify: the API (https://api.notification.canada.ca in production), the API key
# (<name>-<service id>-<secret>), and one template id per language whose content is ((body)).
GC_NOTIFY_API_URL = env_str("GC_NOTIFY_API_URL", "https://api.notification.canada.ca")
GC_NOTIFY_API_KEY = env_str("GC_NOTIFY_API_KEY", "")
# A language without a template of its own (GC_NOTIFY_SMS_TEMPLATE_ES, _PA, _HI, _HT, _AR) is
# sent through the English one: the text itself is always in the person's language.
GC_NOTIFY_SMS_TEMPLATES = {code: env_str(f"GC_NOTIFY_SMS_TEMPLATE_{code.upper()}", "") for code, _name in LANGUAGES}
# The bearer token GC Notify sends with its delivery receipts (POST /api/v1/notify/receipts).
GC_NOTIFY_CALLBACK_TOKEN = env_str("GC_NOTIFY_CALLBACK_TOKEN", "")
# Web Push (RFC 8030/8291/8292): the VAPID key pair (private key as base64url DER or PEM; the
# public key, base64url uncompressed point, is what the web app subscribes with), a contact.
# The web app's address as printed on the activation slip (text and QR code); empty: this
# site's /app/ as the officer's browser reaches it.
REPORTIN_APP_URL = env_str("REPORTIN_APP_URL", "")
REPORTIN_VAPID_PRIVATE_KEY = env_str("REPORTIN_VAPID_PRIVATE_KEY", "")
REPORTIN_VAPID_PUBLIC_KEY = env_str("REPORTIN_VAPID_PUBLIC_KEY", "")
REPORTIN_VAPID_SUBJECT = env_str("REPORTIN_VAPID_SUBJECT", "mailto:reportin@localhost")
REPORTIN_PUSH_TTL_S = env_int("REPORTIN_PUSH_TTL_S", 4 * 3600, minimum=0)

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
# Rows (README, "Row retention"): a check-in and its match figures (and liveness frames), this
# many days after the check-in was settled, once its selfie is deleted and no open task needs it.
REPORTIN_RETAIN_CHECKIN_DAYS = env_int("REPORTIN_RETAIN_CHECKIN_DAYS", 730, minimum=1)
# Reminders and other messages to people, when done (sent, delivered, failed or cancelled):
# this many days after they were created.
REPORTIN_RETAIN_NOTIFICATION_DAYS = env_int("REPORTIN_RETAIN_NOTIFICATION_DAYS", 90, minimum=1)
# Messages between the person and the officers (issue 18.4), with their attachments: this many
# days after they were written, unless an open task needs them.
REPORTIN_RETAIN_MESSAGE_DAYS = env_int("REPORTIN_RETAIN_MESSAGE_DAYS", 730, minimum=30)
# Biometric access records (who looked at which image): the legal period, this many days after
# the view (2 years by default); never less than a year (the database refuses it too).
REPORTIN_RETAIN_ACCESS_RECORD_DAYS = env_int("REPORTIN_RETAIN_ACCESS_RECORD_DAYS", 730, minimum=365)
# Audit events and consent records are kept: they are the record auditors rely on, and hold
# no image.

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
# The nightly rollup counts again this many past days into the accountability figures' table
# (decisions and settled windows arrive days after a check-in); older days keep their counts
# until `manage.py figures_rollup` counts them again.
REPORTIN_ROLLUP_DAYS = env_int("REPORTIN_ROLLUP_DAYS", 35, minimum=1, maximum=400)

# --- Email (reminders) ----------------------------------------------------------------------

_EMAIL_BACKENDS = {
    "file": "config.mail.PrivateFileEmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
}
_email_backend = env_str("EMAIL_BACKEND", "file")
if _email_backend not in _EMAIL_BACKENDS and "." not in _email_backend:
    raise ImproperlyConfigured(f"EMAIL_BACKEND={_email_backend!r}: use file, console, smtp or a dotted path")
EMAIL_BACKEND = _EMAIL_BACKENDS.get(_email_backend, _email_backend)
# The file backend writes each message to a file here (mode 0600, in a 0700 folder: reminders
# name the person and their reporting times).
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
        # Capped in size and nesting depth (issue 14.9).
        "reportin.api.uploads.CappedJSONParser",
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
    # The docs open with the order of calls a phone makes, and the error conventions.
    "DESCRIPTION": (BASE_DIR / "reportin" / "api" / "getting_started.md").read_text(encoding="utf-8"),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc are served from this site (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "LanguageEnum": "enforcement.models.Language.choices",
        "AppointmentKindEnum": "enforcement.models.AppointmentKind.choices",
        "AppointmentStatusEnum": "enforcement.models.AppointmentStatus.choices",
        # The names these had before appointments brought other "kind" and "status" fields.
        "KindEnum": "enforcement.models.ConsentKind.choices",
        "StatusEnum": "reportin.models.CheckInStatus.choices",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "reportin.api.docs.retry_after_headers"],
}
# Requests allowed per device, per client address, and per address for requests without a
# token (activation, consent text), as "N/second|minute|hour|day".
REPORTIN_RATE_DEVICE = env_rate("REPORTIN_RATE_DEVICE", "120/minute")
REPORTIN_RATE_ADDRESS = env_rate("REPORTIN_RATE_ADDRESS", "1200/minute")
REPORTIN_RATE_ANONYMOUS = env_rate("REPORTIN_RATE_ANONYMOUS", "60/minute")
# The benchmark's baseline endpoint (upload and save only). Never in production.
REPORTIN_BENCH_BASELINE = env_bool("REPORTIN_BENCH_BASELINE", False)

# --- Logging --------------------------------------------------------------------------------

# --- Metrics and logs (README, "Metrics and logs"; config/observability.py) -----------------
# LOG_FORMAT=json: one JSON object per line (time, level, logger, message, request_id), for
# web and Celery processes alike; "plain" (the default) is for people.
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "config.observability.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# /metrics: a bearer token required when set (also REPORTIN_METRICS_TOKEN_FILE); the proxy
# never forwards /metrics either way. The queues whose depth it reports.
REPORTIN_METRICS_TOKEN = env_str("REPORTIN_METRICS_TOKEN", "")
REPORTIN_METRICS_QUEUES = env_list("REPORTIN_METRICS_QUEUES", ["scoring", "default", "long", "notify"])
# Where every process on the host writes its metric values (prometheus_client reads the same
# variable); empty: each process has its own, and /metrics shows the answering process only.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")
