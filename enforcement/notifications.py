"""What a message says, and the default sender that hands it to the person's channel.

A sender is any callable `sender(notification) -> str | None` named by the setting
REPORTIN_NOTIFICATION_SENDER (a dotted path); `services.notifications_deliver` calls it for
each claimed message, outside any transaction, with `notification.contact` (a
channels.Contact) already set. It returns the provider's reference, raises `Undeliverable`
when the message can never reach the person (it is then cancelled with the reason) and any
other exception for a failure worth retrying. The default, `send`, goes through the channel of
the row (enforcement.channels: email through Django's email backend, SMS through GC Notify,
Web Push).
"""

from django.utils import formats, translation
from django.utils.translation import gettext as _

from enforcement import channels, schedule
from enforcement.channels import Undeliverable  # noqa: F401  (senders raise it from here too)
from enforcement.models import ContactChannel, Notification, NotificationKind, NotifyChannel


def text(notification: Notification) -> channels.Text:
    """The message in the client's language, with times in the client's local time."""
    client, window = notification.client, notification.window
    language = client.preferred_language
    with translation.override(language):
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
    return channels.Text(language=language, subject=str(subject), short=f"ReportIn: {lead}", body=body + "\n")


def message(notification: Notification) -> tuple[str, str]:
    """Subject and body of the email."""
    words = text(notification)
    return words.subject, words.body


def reference(notification: Notification) -> str:
    """Our id of the message at the provider: the same on every attempt, so that a retry after
    a crash can ask the provider whether it already has it."""
    return f"reportin-notification-{notification.pk}"


def contact(notification: Notification, chosen: ContactChannel | None) -> channels.Contact:
    if notification.channel == NotifyChannel.EMAIL:
        return channels.Contact(email=notification.client.email)
    if chosen is None:
        return channels.Contact()
    return channels.Contact(phone=chosen.address, push_endpoint=chosen.push_endpoint, push_p256dh=chosen.push_p256dh, push_auth=chosen.push_auth)


def send(notification: Notification) -> str:
    chosen = channels.channel(notification.channel)
    if getattr(notification, "check_provider", False):
        found = chosen.find_sent(reference=reference(notification))
        if found is not None:
            return found
    return chosen.send(reference=reference(notification), contact=notification.contact, text=text(notification))


def send_email(notification: Notification) -> str:
    """The email channel whatever the row says (the sender of the first release)."""
    return channels.EmailChannel().send(reference=reference(notification), contact=channels.Contact(email=notification.client.email), text=text(notification))


def consent_text(channel: str, language: str) -> str:
    """The words a person agrees to when choosing a channel; stored with their choice."""
    with translation.override(language):
        texts = {
            NotifyChannel.EMAIL: _(
                "I agree that the CBSA sends me reminders and notices about my reporting by email, to the address on my file."
            ),
            NotifyChannel.SMS: _(
                "I agree that the CBSA sends me reminders and notices about my reporting by text message (SMS) to the number "
                "I gave, through the Government of Canada's GC Notify service. Standard message rates may apply. I can "
                "change this at any time in the app's settings."
            ),
            NotifyChannel.PUSH: _(
                "I agree that the CBSA sends me reminders and notices about my reporting as notifications on this phone. "
                "The notification service of my browser passes them on encrypted. I can change this at any time in the "
                "app's settings."
            ),
        }
        return str(texts[channel])
