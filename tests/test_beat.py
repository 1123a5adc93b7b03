"""The beat schedule, the one place that lists every periodic job."""

import pytest
from celery.schedules import crontab

from config.celery import app


def test_every_periodic_job_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, name


@pytest.mark.parametrize(
    ("task", "minutes", "hours"),
    [
        ("enforcement.tasks.windows_sweep", set(range(60)), set(range(24))),
        ("enforcement.tasks.notifications_send", set(range(60)), set(range(24))),
        ("enforcement.tasks.windows_materialise", {7}, {0, 6, 12, 18}),
    ],
)
def test_compliance_jobs_run_on_their_schedule_and_expire_before_the_next_run(task, minutes, hours):
    [entry] = [e for e in app.conf.beat_schedule.values() if e["task"] == task]
    assert isinstance(entry["schedule"], crontab)
    assert (entry["schedule"].minute, entry["schedule"].hour) == (minutes, hours)
    interval_s = 60 if len(minutes) == 60 else 24 * 3600 / len(hours)
    assert entry["options"]["expires"] < interval_s


@pytest.mark.django_db
def test_the_compliance_tasks_run_their_services():
    from enforcement import tasks

    assert tasks.windows_materialise() == 0
    assert tasks.windows_sweep() == 0
    assert tasks.notifications_send() == 0
