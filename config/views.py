"""Liveness and readiness probes for load balancers and container health checks."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from config.celery import app as celery_app

logger = logging.getLogger(__name__)


@never_cache
def healthz(request):
    """The process is alive and serving requests; it says nothing about dependencies."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not ready"
        logger.warning("readyz: database does not answer: %s", exc)
        return type(exc).__name__
    return None


def _broker_ok() -> str | None:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        logger.warning("readyz: broker does not answer: %s", exc)
        return type(exc).__name__
    return None


@never_cache
def readyz(request):
    """200 when the database and the broker answer; 503 naming each part that does not."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    failing = {name: error for name, error in checks.items() if error}
    if failing:
        # Only exception class names go out: details (hosts, users) stay in the log.
        names = sorted(failing)
        return JsonResponse(
            {
                "status": "unavailable",
                "failing": names,
                "error": {
                    "code": "not_ready",
                    "message": "Not ready: " + ", ".join(names) + " not answering.",
                    "fields": failing,
                },
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": {name: "ok" for name in checks}})
