"""Settings for the test suite: production settings with test-only secrets filled in.

The defaults are set in the environment (not just here) so that worker processes the tests
start inherit the same configuration.
"""

import os
from pathlib import Path

# Tests keep their SQLite file and file-system broker apart from the demo's.
os.environ.setdefault("REPORTIN_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
# A fixed test key (32 zero bytes would be silly even for tests; this is 32 bytes of "t").
os.environ.setdefault("REPORTIN_ENCRYPTION_KEYS", "test:dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHQ=")
# No random quality-sample tasks where a test does not ask for them (tests/test_quality_sample.py does).
os.environ.setdefault("REPORTIN_QUALITY_SAMPLE_SHARE", "0")
# Most tests send one selfie; the liveness tests (tests/test_liveness*.py) turn the challenge on.
os.environ.setdefault("REPORTIN_LIVENESS_REQUIRED", "0")

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
