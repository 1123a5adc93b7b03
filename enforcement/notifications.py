"""What a message says, and the default sender that hands it to the person's channel.

A sender is any callable `sender(notification) -> str | None` named by the setting
REPORTIN_NOTIFICATION_SENDER (a dotted path); `services.notifications_deliver` calls it for
each claimed message, outside any transaction, with `notification.contact` (a
channels.Contact) already set. It returns the provider's reference, raises `Undeliverable`
when the message can never reach the person (it is then cancelled with the reason) and any
other exception for a failure worth retrying. The row comes with the columns the senders here
read (services._DELIVERY_FIELDS: of the client its uci, given name, language, time zone and
email; of the window its status and close): a sender reading another column of the client or
the window costs a query per message, on its thread's own connection. The default, `send`, goes through the channel of
the row (enforcement.channels: email through Django's email backend, SMS through GC Notify,
Web Push).
"""

from datetime import datetime
from functools import lru_cache

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import formats, translation
from django.utils.translation import gettext as _

from enforcement import channels, schedule, selectors
from enforcement.channels import Undeliverable  # noqa: F401  (senders raise it from here too)
from enforcement.models import (
    ContactChannel,
    Notice,
    NoticeKind,
    Notification,
    NotificationKind,
    NotifyChannel,
    TaskReason,
)


def text(notification: Notification) -> channels.Text:
    """The message in the client's language, with times in the client's local time."""
    if notification.notice_id is not None:
        notice = notification.notice
        # The loaded client, not a query: senders run in threads, outside the caller's transaction.
        notice.client = notification.client
        return notice_text(notice, notification.client.preferred_language)
    client, window = notification.client, notification.window
    language = client.preferred_language
    if notification.appointment_id is not None:
        words = appointment_words(notification.appointment, client, language)
        with translation.override(language):
            subject = _("Reminder: %(what)s on %(when)s") % words
            body = "\n\n".join([_("Hello %(name)s,") % {"name": client.given_name}, appointment_lead(words)])
        return channels.Text(language=language, subject=str(subject), short=f"ReportIn: {subject}. {words['place']}", body=body + "\n")
    subject, lead, hello, closing = _window_words(notification.kind, language, window.closes_at, client.local_time_zone)
    body = "\n\n".join([hello % {"name": client.given_name}, lead, closing])
    return channels.Text(language=language, subject=subject, short=f"ReportIn: {lead}", body=body + "\n")


@lru_cache(maxsize=4096)
def _window_words(kind: str, language: str, closes_at: datetime, zone: str) -> tuple[str, str, str, str]:
    """A window reminder's words but the name: the same for every person of a language and zone
    whose window closes at the same time, as most of a morning's reminders are (kept, they save
    a translation switch and a date format per message). Only translations are read, and
    translations are fixed while the process runs."""
    with translation.override(language):
        closes = formats.date_format(closes_at.astimezone(schedule.zone(zone)), "DATETIME_FORMAT")
        values = {"closes": closes, "zone": zone}
        if kind == NotificationKind.WINDOW_OPENED:
            subject = _("Your reporting window is open")
            lead = _("You can report now in the ReportIn app. Your reporting window closes on %(closes)s (%(zone)s time).") % values
        else:
            subject = _("Your reporting window closes soon")
            lead = _("You have not reported yet. Your reporting window closes on %(closes)s (%(zone)s time).") % values
        hello = _("Hello %(name)s,")
        closing = _("If you cannot report in the app, contact your officer or report in person.")
    return str(subject), str(lead), str(hello), str(closing)


@receiver(setting_changed)
def _forget_window_words(**kwargs) -> None:
    # Tests change languages, catalogues and formats; a process serving messages does not.
    _window_words.cache_clear()


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


def reason_words() -> dict[str, str]:
    """Why an officer could not accept a check-in, in plain words: the category only, never a
    score or a threshold."""
    return {
        TaskReason.FACE_NON_MATCH: _("the photo did not clearly show that it was you"),
        TaskReason.NO_FACE: _("no face could be seen in the photo"),
        TaskReason.MULTIPLE_FACES: _("more than one face was in the photo"),
        TaskReason.LOW_QUALITY: _("the photo was too dark, blurred or small"),
        TaskReason.UNREADABLE_IMAGE: _("the photo could not be read"),
        TaskReason.POSSIBLE_REPLAY: _("the photo looked like one sent before, or like a picture of a picture"),
        TaskReason.LOCATION_OUTSIDE_AREA: _("the location sent was outside the area your conditions allow"),
    }


def appointment_words(appointment, client, language: str) -> dict:
    """An appointment as the person reads it, in `language`: what, when (their local time),
    where and what to bring."""
    with translation.override(language):
        zone = client.local_time_zone
        office = selectors.office_public(appointment.office, language)
        place = f"{office['name']}, {office['address']}" if office else appointment.place
        return {
            "what": str(appointment.get_kind_display()),
            "when": formats.date_format(appointment.starts_at.astimezone(schedule.zone(zone)), "DATETIME_FORMAT"),
            "zone": zone,
            "place": place,
            "bring": appointment.bring,
        }


def appointment_lead(words: dict) -> str:
    """The sentences that give the appointment (`words` from appointment_words), in the active language."""
    lead = _("%(what)s: %(when)s (%(zone)s time), at %(place)s.") % words
    if words["bring"]:
        lead += " " + _("Bring: %(bring)s.") % words
    return lead + " " + _("If you cannot come, contact your officer before then.")


def _local(client, value: str | None) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value).astimezone(schedule.zone(client.local_time_zone))
    return formats.date_format(moment, "DATETIME_FORMAT")


def notice_text(notice: Notice, language: str) -> channels.Text:
    """What a notice says, in `language`, with times in the person's local time."""
    client, details = notice.client, notice.details
    with translation.override(language):
        zone = schedule.zone(client.local_time_zone)
        if notice.kind == NoticeKind.MISSED_WINDOW:
            window = notice.window
            values = {"opens": formats.date_format(window.opens_at.astimezone(zone), "DATETIME_FORMAT"),
                      "closes": formats.date_format(window.closes_at.astimezone(zone), "DATETIME_FORMAT")}
            title = _("You missed a reporting window")
            body = _(
                "We did not receive a check-in for your reporting window of %(opens)s to %(closes)s. What to do now: "
                "check in in the app as soon as you can (it is recorded as late), and tell your officer what happened; "
                "you can answer from this notice. If you cannot use the app, report in person at your CBSA office."
            ) % values
        elif notice.kind == NoticeKind.EXTRA_CHECKIN:
            title = _("Check-in kept, but it does not count for a window")
            body = _(
                "We received your check-in of %(when)s and kept it on your file. It does not count for a reporting "
                "window: none was open at that time. Check in again during your next window."
            ) % {"when": _local(client, details.get("captured_at"))}
        elif notice.kind == NoticeKind.CHECKIN_REVIEW:
            title = _("An officer will look at your check-in")
            body = _(
                "Your check-in of %(when)s could not be confirmed automatically, so an officer will look at it. "
                "You do not need to do anything now; you will be told the outcome here."
            ) % {"when": _local(client, details.get("captured_at"))}
        elif notice.kind == NoticeKind.REVIEW_OUTCOME and details.get("confirmed"):
            title = _("Your check-in was accepted")
            body = _("An officer looked at your check-in of %(when)s and accepted it.") % {"when": _local(client, details.get("captured_at"))}
            if details.get("window_counts"):
                body += " " + _("It counts for your reporting window.")
        elif notice.kind == NoticeKind.REVIEW_OUTCOME:
            reason = reason_words().get(details.get("reason"), _("the check-in could not be confirmed"))
            title = _("Your check-in was not accepted")
            body = _(
                "An officer looked at your check-in of %(when)s and could not accept it, because %(reason)s. Your officer "
                "will contact you. If you think this is wrong, you can say so from this notice."
            ) % {"when": _local(client, details.get("captured_at")), "reason": reason}
        elif notice.kind == NoticeKind.CONTEST_OUTCOME:
            values = {"when": _local(client, details.get("captured_at"))}
            if details.get("upheld") and details.get("accepted"):
                title = _("You were right: your check-in is accepted")
                body = _("An officer looked again at your check-in of %(when)s after what you said, and accepted it.") % values
                if details.get("window_counts"):
                    body += " " + _("It counts for your reporting window.")
            elif details.get("upheld"):
                title = _("Your reporting window is excused")
                body = _("An officer looked again at your check-in of %(when)s after what you said.") % values
                if details.get("window_excused"):
                    body += " " + _("The reporting window it was for is excused: it does not count as missed.")
            else:
                title = _("The decision about your check-in stands")
                body = _(
                    "An officer looked again at your check-in of %(when)s after what you said. The earlier decision stands. "
                    "Your officer can tell you more; you can write to them in the app."
                ) % values
        elif notice.kind == NoticeKind.CHECKIN_REQUESTED:
            title = _("Your officer asks you to check in now")
            body = _(
                "Check in in the ReportIn app before %(closes)s. This check-in is required: if none arrives by then, "
                "it is recorded as missed."
            ) % {"closes": _local(client, details.get("closes_at"))}
        elif notice.kind == NoticeKind.APPOINTMENT:
            words = appointment_words(notice.appointment, client, language)
            if details.get("change") == "cancelled":
                title = _("Appointment cancelled")
                body = _("Your appointment (%(what)s, %(when)s) is cancelled. You do not need to come.") % words
            else:
                title = _("Appointment moved") if details.get("change") == "rescheduled" else _("You have an appointment")
                body = appointment_lead(words)
        elif notice.kind == NoticeKind.MESSAGE:
            title = _("You have a message from your officer")
            body = _("Open the ReportIn app to read it and to answer.")
        else:  # remote reporting off
            title = _("Remote reporting is off")
            office = details.get("office")
            if office:
                body = _(
                    "You will not report in the app for now. Report in person at %(office)s, %(address)s (%(hours)s; "
                    "phone %(phone)s) on the days your conditions say; your officer will contact you to arrange it."
                ) % {"office": office["name"], "address": office["address"], "hours": office["hours"], "phone": office["phone"]}
            else:
                body = _(
                    "You will not report in the app for now. Report in person at your CBSA office on the days your "
                    "conditions say; your officer will contact you to arrange it."
                )
    return channels.Text(language=language, subject=str(title), short=f"ReportIn: {title}. {body}", body=f"{body}\n")
