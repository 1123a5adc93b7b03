"""Exactly one beat sends the periodic jobs, however many are started.

Celery beat has no lock of its own: two beats (a second replica, a forgotten process on another
host) would send every periodic job twice. `LockedScheduler` sends only while it holds a lock:

- on PostgreSQL, a session advisory lock on a connection of its own. The database releases it
  when that connection ends, so a beat that dies, hangs up or loses the network gives it up by
  itself, and a standing-by beat takes over at its next try;
- on the embedded default (SQLite, one host), an exclusive lock on a file beside the database,
  which the operating system releases when the process ends.

A beat without the lock sends nothing and tries again every few seconds.
"""

import fcntl
import logging
import os

from celery.beat import PersistentScheduler
from django.conf import settings

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key: any constant that no other part of the system uses.
ADVISORY_KEY = 0x52455042454154  # "REPBEAT"
# Seconds between two attempts of a standing-by beat (and between checks of a held lock).
RETRY_SECONDS = 5.0


class PostgresLock:
    def __init__(self):
        self._wrapper = None

    def _close(self) -> None:
        if self._wrapper is not None:
            try:
                self._wrapper.close()
            except Exception:
                logger.debug("closing the beat lock connection failed", exc_info=True)
            self._wrapper = None

    def hold(self) -> bool:
        """Whether this process holds the lock now (taking it if it is free)."""
        from django.db import connections

        if self._wrapper is not None:
            try:
                with self._wrapper.cursor() as cursor:
                    cursor.execute("SELECT 1")
                return True
            except Exception:
                # The connection is gone, and with it the lock: another beat may have it now.
                logger.warning("beat lost its database connection and with it the lock")
                self._close()
        try:
            wrapper = connections.create_connection("default")
            wrapper.ensure_connection()
            wrapper.set_autocommit(True)
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
                (taken,) = cursor.fetchone()
        except Exception:
            logger.warning("beat could not reach the database to take its lock", exc_info=True)
            return False
        if taken:
            self._wrapper = wrapper
            return True
        wrapper.close()
        return False

    def release(self) -> None:
        self._close()


class FileLock:
    def __init__(self, path):
        self._path = path
        self._fd = None

    def hold(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def beat_lock():
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return PostgresLock()
    return FileLock(str(settings.DATA_DIR / "celerybeat.lock"))


class LockedScheduler(PersistentScheduler):
    """PersistentScheduler that sends nothing unless it holds the beat lock."""

    def __init__(self, *args, **kwargs):
        self._lock = beat_lock()
        self._holding = None
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        holding = self._lock.hold()
        if holding != self._holding:
            if holding:
                logger.info("beat: holding the beat lock; sending periodic jobs")
            else:
                logger.warning("beat: another beat holds the beat lock; standing by, sending nothing")
            self._holding = holding
        if not holding:
            return RETRY_SECONDS
        return min(super().tick(*args, **kwargs), RETRY_SECONDS)

    def close(self):
        try:
            super().close()
        finally:
            self._lock.release()
