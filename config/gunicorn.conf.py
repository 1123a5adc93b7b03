"""gunicorn settings for the web process (used by runstack, docker-compose and the benchmarks).

Threads serve the I/O-bound share of a request (database, file writes) while another thread
uses the CPU; processes use the cores. Override with WEB_CONCURRENCY / WEB_THREADS.
"""

import multiprocessing
import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
# Paths and statuses only: query strings and headers (tokens) never reach the access log.
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")



def child_exit(server, worker):
    """A gunicorn worker's metric files are merged into the dead-process totals (counters and
    histograms keep counting across worker restarts; README, "Metrics and logs")."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
