"""Reminder messages and the default sender.

A sender is any callable `sender(notification) -> None` named by the setting
REPORTIN_NOTIFICATION_SENDER (a dotted path); `services.notifications_send` calls it for each
due reminder. It raises `Undeliverable` when the reminder can never reach the client (it is
then cancelled) and any other exception for a failure worth retrying. The default,
`send_email`, goes through Django's email backend (EMAIL_BACKEND: a file or the console on
one machine, SMTP in production).
"""

from django.core.mail import EmailMessage
from django.utils import formats, translation
from django.utils.translation import gettext as _

from enforcement import schedule
from enforcement.models import Notification, NotificationKind


class Undeliverable(Exception):
    """This reminder cannot be delivered to this client at all (e.g. no address)."""


def message(notification: Notification) -> tuple[str, str]:
    """Subject and body in the client's language, with times in the client's local time."""
    client, window = notification.client, notification.window
    with translation.override(client.preferred_language):
        closes = formats.date_format(window.closes_at.astimezone(schedule.zone(client.local_time_zone)), "DATETIME_FORMAT")
        values = {"name": client.given_name, "closes": closes, "zone": client.local_time_zone}
        if notification.kind == NotificationKind.WINDOW_OPENED:
            subject = _("Your reporting window is open")
            lead = _("You can report now in the ReportIn app. Your reporting window closes on %(closes)s (%(zone)s time).") % values
        else:
            subject = _("Your reporting window closes soon")
            lead = _("You have not reported yet. Your reporting window closes on %(closes)s (%(zone)s time).") % values
        body = "\n\n".join([
            _("Hello %(name)s,") % values,
            lead,
            _("If you cannot report in the app, contact your officer or report in person."),
        ])
    return subject, body + "\n"


def send_email(notification: Notification) -> None:
    if not notification.client.email:
        raise Undeliverable("the client has no email address")
    subject, body = message(notification)
    EmailMessage(subject=subject, body=body, to=[notification.client.email]).send()
