"""Prometheus metrics (README, "Metrics and logs"), with the official prometheus_client.

Counters and histograms live in the process that records them. With PROMETHEUS_MULTIPROC_DIR
set (gunicorn's workers, Celery's pool processes) each process writes its values to files in
that folder and /metrics adds them up (config/observability.py), so one scrape sees every
web process and every worker process that shares the folder."""

from prometheus_client import Counter, Histogram

REQUEST_LATENCY = Histogram(
    "reportin_http_request_duration_seconds",
    "Time to answer an HTTP request, by view (its URL name), method and status.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
VERDICT_LATENCY = Histogram(
    "reportin_verdict_latency_seconds",
    "From a check-in's arrival to its face verdict being recorded, by decision.",
    ["decision"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
REMINDERS = Counter(
    "reportin_reminders",
    "Messages to people handed to their channel: sent, failed (to be retried or given up) or undeliverable.",
    ["channel", "outcome"],
)
SWEEP_DURATION = Histogram(
    "reportin_sweep_duration_seconds",
    "Duration of one minute sweep of missed windows.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
