"""Celery tasks of the enforcement domain (the beat schedule is in config/celery.py).

Each calls one service and is safe to run twice or at once: the services claim their work
in the database.
"""

from celery import shared_task

from enforcement import services


@shared_task
def windows_sweep() -> int:
    return services.windows_sweep()


@shared_task
def windows_materialise() -> int:
    return services.windows_materialise()


@shared_task
def notifications_send() -> int:
    return services.notifications_send()
