"""Operations (README, "Metrics and logs"): the request id, the JSON log format, and the
Prometheus endpoint.

Request id: every request gets one (the caller's X-Request-ID when it is a sane token, else a
new one), answered in X-Request-ID, written in every log line of the request, put in the
headers of every Celery task the request queues, and restored by the worker around the task,
so that one id follows a check-in from the web request into the scoring worker's log.

/metrics: Prometheus's text format. With PROMETHEUS_MULTIPROC_DIR set it adds up the values
written by every process sharing that folder (gunicorn's workers, Celery's processes); queue
depths are read from the broker at each scrape. Protected by REPORTIN_METRICS_TOKEN (a bearer
token) when it is set; the proxy never forwards /metrics (deploy/nginx), so it is reached on
the internal network only.
"""

import contextvars
import hmac
import json
import logging
import os
import re
import time
import uuid

from django.conf import settings
from django.http import HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "reportin_request_id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE: the request id, and the request's latency for /metrics."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get(REQUEST_ID_HEADER, "")
        rid = given if _SANE_ID.fullmatch(given) else new_request_id()
        request.request_id = rid
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response[REQUEST_ID_HEADER] = rid
        from enforcement import metrics

        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match else "") or "unmatched"
        metrics.REQUEST_LATENCY.labels(view, request.method[:10], str(response.status_code)).observe(time.perf_counter() - started)
        return response


# --- Logs -----------------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (the current request's or task's, else "-") to every record."""

    def filter(self, record):
        record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (and the error)."""

    def format(self, record):
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get() or "-",
            "process": record.process,
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


JsonFormatter.converter = time.gmtime


def logging_config(*, log_format: str, level: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "config.observability.RequestIdFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {"()": "config.observability.JsonFormatter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


# --- Celery: the request id travels in the task's headers -------------------------------------


def task_publish_add_request_id(headers=None, **kwargs):
    rid = request_id.get()
    if rid and headers is not None and TASK_HEADER not in headers:
        headers[TASK_HEADER] = rid


_task_tokens: dict[str, contextvars.Token] = {}


def task_prerun_restore_request_id(task_id=None, task=None, **kwargs):
    rid = None
    if task is not None:
        rid = getattr(task.request, TASK_HEADER, None) or (getattr(task.request, "headers", None) or {}).get(TASK_HEADER)
    _task_tokens[task_id] = request_id.set(rid if isinstance(rid, str) and _SANE_ID.fullmatch(rid) else None)


def task_postrun_clear_request_id(task_id=None, **kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        request_id.reset(token)


# --- /metrics ---------------------------------------------------------------------------------

QUEUE_DEPTH_NAME = "reportin_queue_depth"


class QueueDepthCollector:
    """Messages waiting in each Celery queue, read at scrape time (Redis: LLEN of the queue's
    lists, one per priority step; other brokers: the queue's message count)."""

    def __init__(self, queues):
        self.queues = list(queues)

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(QUEUE_DEPTH_NAME, "Messages waiting in a Celery queue.", labels=["queue"])
        for queue, depth in queue_depths(self.queues).items():
            if depth is not None:
                family.add_metric([queue], depth)
        yield family


def queue_depths(queues) -> dict[str, int | None]:
    from config.celery import app

    depths: dict[str, int | None] = {}
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(broker, socket_timeout=2)
        # kombu's Redis transport keeps a queue as one list per priority step: "name" for
        # the default priority, "name\x06\x16<step>" for the others.
        steps = app.conf.broker_transport_options.get("priority_steps", [0, 3, 6, 9])
        try:
            pipe = client.pipeline(transaction=False)
            for queue in queues:
                for step in steps:
                    pipe.llen(queue if not step else f"{queue}\x06\x16{step}")
            lengths = pipe.execute()
        except redis.RedisError:
            return dict.fromkeys(queues)
        finally:
            client.close()
        for index, queue in enumerate(queues):
            depths[queue] = sum(lengths[index * len(steps):(index + 1) * len(steps)])
        return depths
    try:
        with app.connection_for_read() as connection:
            for queue in queues:
                try:
                    depths[queue] = connection.default_channel.queue_declare(queue=queue, passive=True).message_count
                except Exception:  # not declared yet: nothing waits in it
                    depths[queue] = 0
    except Exception:
        return dict.fromkeys(queues)
    return depths


def _authorised(request) -> bool:
    token = settings.REPORTIN_METRICS_TOKEN
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    return given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())


class MetricsEndpointMiddleware:
    """First in MIDDLEWARE: answers /metrics before the host check and the HTTPS redirect, so
    that Prometheus can scrape a web process by its internal name (http://web:8000/metrics),
    which is in neither DJANGO_ALLOWED_HOSTS nor HTTPS. The proxy never forwards /metrics."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/metrics" and request.method in ("GET", "HEAD"):
            return metrics_view(request)
        return self.get_response(request)


def metrics_view(request):
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

    if not _authorised(request):
        response = HttpResponse("metrics: a bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.PROMETHEUS_MULTIPROC_DIR
    if folder:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    registry.register(QueueDepthCollector(settings.REPORTIN_METRICS_QUEUES))
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


class _Forward:
    """The process's own registry inside a new one (which also gets the queue depths)."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()
