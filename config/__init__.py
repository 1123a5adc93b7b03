"""Every process (web, worker, beat, commands, tests) imports this package first, through its
settings module, its WSGI application or the Celery app; the time-zone pin lives here so that
none of them can miss it."""

import os
import zoneinfo

# Time zones come from the pinned `tzdata` wheel (requirements.txt), never from the host: hosts
# lag behind IANA (Debian's 2025b here still has Vancouver on UTC-8 in December 2026, IANA 2026f
# has UTC-7), and a reporting window an hour off is a missed report that was not. An empty
# search path makes zoneinfo read the tzdata package only; PYTHONTZPATH carries the same choice
# to every process started from this one (gunicorn, Celery, the test suite's workers).
os.environ["PYTHONTZPATH"] = ""
zoneinfo.reset_tzpath(to=())
# A zone loaded before the reset (by an import that ran earlier) would otherwise stay cached.
zoneinfo.ZoneInfo.clear_cache()

from config.celery import app as celery_app  # noqa: E402 - the time zones must be pinned first

__all__ = ["celery_app"]
