"""The Celery app and the beat schedule: every periodic job of the system is listed here."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("reportin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Face scoring is CPU-heavy and has its own queue so it can get its own workers; everything
# else (sweeps, reminders, housekeeping) is light and shares "default".
app.conf.task_routes = {
    "reportin.tasks.checkin_score": {"queue": "scoring"},
}

app.conf.beat_schedule = {
    "reconcile-checkins": {
        "task": "reportin.tasks.checkins_reconcile",
        "schedule": 60.0,
    },
}
