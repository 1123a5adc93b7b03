"""The Celery app and the beat schedule: every periodic job of the system is listed here."""

import logging
import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import before_task_publish, celeryd_after_setup, setup_logging, task_postrun, task_prerun

from config import observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("reportin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Face scoring is CPU-heavy and has its own queue so it can get its own workers; everything
# else (sweeps, reminders, housekeeping) is light and shares "default".
# Long jobs (exports, purges, window materialisation) have the `long` queue, so that a big
# one never delays a sweep or a reminder; they run in chunks that each end well within the
# task time limit (below the broker's visibility timeout) and queue their own continuation.
LONG_QUEUE = "long"
app.conf.task_routes = {
    "reportin.tasks.checkin_score": {"queue": "scoring"},
    "backoffice.tasks.export_run": {"queue": LONG_QUEUE},
    "enforcement.tasks.windows_materialise": {"queue": LONG_QUEUE},
    "enforcement.tasks.audit_verify": {"queue": LONG_QUEUE},
    "reportin.tasks.data_purge_expired": {"queue": LONG_QUEUE},
    "reportin.tasks.figures_rollup_recent": {"queue": LONG_QUEUE},
    "reportin.tasks.figures_rollup_day": {"queue": LONG_QUEUE},
    # Messages to people wait on providers (GC Notify, push services, SMTP), not on the CPU:
    # their own queue and workers, so a morning's reminders never delay scoring or sweeps.
    "enforcement.tasks.notifications_deliver": {"queue": "notify"},
}

app.conf.beat_schedule = {
    # Every minute: queue scoring again for check-ins left unjudged (a lost message, a dead
    # attempt); never one still within its time limits (reportin.selectors.checkins_to_rescore).
    "reconcile-checkins": {
        "task": "reportin.tasks.checkins_reconcile",
        "schedule": 60.0,
    },
    # At the start of every minute: open windows past their deadline become missed, with one
    # task each. A message not taken within the minute is dropped (expires): the next sweep
    # does the same work, so a backlog never piles up.
    "sweep-missed-windows": {
        "task": "enforcement.tasks.windows_sweep",
        "schedule": crontab(),
        "options": {"expires": 55},
    },
    # Every six hours: reporting windows and their reminders for REPORTIN_WINDOW_HORIZON_DAYS
    # ahead. The horizon moves once a day (the 00:07 UTC run adds a day); the other runs catch
    # up on a run that failed. A new or changed condition gets its windows at once anyway.
    "materialise-windows": {
        "task": "enforcement.tasks.windows_materialise",
        "schedule": crontab(minute=7, hour="*/6"),
        "options": {"expires": 3 * 3600},
    },
    # Every minute: claim the messages that are due, in chunks, for the notify workers.
    "send-reminders": {
        "task": "enforcement.tasks.notifications_dispatch",
        "schedule": crontab(),
        "options": {"expires": 55},
    },
    # Every minute: publish the audit chain's head (seq, hash, time) out of the database's reach,
    # so that deleting the newest events is caught (enforcement/audit.py).
    "publish-audit-head": {
        "task": "enforcement.tasks.audit_head_publish",
        "schedule": crontab(),
        "options": {"expires": 55},
    },
    # Daily at 04:10 UTC: verify the whole chain against the published heads; the outcome is on
    # the auditors' dashboard.
    "verify-audit-trail": {
        "task": "enforcement.tasks.audit_verify",
        "schedule": crontab(minute=10, hour=4),
        "options": {"expires": 6 * 3600},
    },
    # Daily at 02:40 UTC: count the last REPORTIN_ROLLUP_DAYS days into the accountability
    # figures' table (one task per day on the long queue).
    "figures-rollup": {
        "task": "reportin.tasks.figures_rollup_recent",
        "schedule": crontab(minute=40, hour=2),
        "options": {"expires": 6 * 3600},
    },
    # Daily at 03:30 UTC: delete images and encodings past their retention period.
    "purge-expired": {
        "task": "reportin.tasks.data_purge_expired",
        "schedule": crontab(minute=30, hour=3),
        "options": {"expires": 6 * 3600},
    },
}


@celeryd_after_setup.connect
def _scoring_needs_ready_references(sender=None, instance=None, **kwargs):
    """A worker that scores refuses to start with a face model that active clients have no
    ready reference for (enforcement.face_model): it would turn their check-ins into tasks.
    Run `manage.py reencode_references` first."""
    queues = instance.app.amqp.queues.consume_from or {}
    if "scoring" not in queues:
        return
    from enforcement.face_model import readiness_errors

    errors = readiness_errors()
    for error in errors:
        logging.getLogger(__name__).critical("%s %s", error.msg, error.hint)
    if errors:
        raise SystemExit(78)  # EX_CONFIG; a signal handler's ordinary exception would only be logged


# The request id rides in the task's headers from the web request into the worker's log lines.
before_task_publish.connect(observability.task_publish_add_request_id, weak=False)
task_prerun.connect(observability.task_prerun_restore_request_id, weak=False)
task_postrun.connect(observability.task_postrun_clear_request_id, weak=False)


@setup_logging.connect
def _django_logging(**kwargs):
    """Workers log as the web does (settings.LOGGING: LOG_FORMAT, LOG_LEVEL, the request id)
    instead of Celery's own format; `-l` is then ignored in favour of LOG_LEVEL."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
