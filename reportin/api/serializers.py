"""Small input and output serializers, one pair per operation."""

import base64
import binascii
import copy
import re
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from enforcement.models import WEEKDAY_NAMES, ConsentDecision, ConsentKind, Language, NotifyChannel, ReportingMethod, Schedule
from reportin.models import CheckInStatus, Platform

# A phone's clock may run a little fast; a report "captured" further ahead is refused.
CAPTURE_CLOCK_SKEW = timedelta(minutes=5)
# An older capture is no report of the present.
CAPTURE_MAX_AGE = timedelta(days=30)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know and fields sent more than once: a typo or a second
    photo must be an error, not silently ignored."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            errors = {name: _("Unknown field.") for name in data.keys() if name not in self.fields}
            if hasattr(data, "getlist"):
                errors.update({
                    name: _("Send this field once.")
                    for name in data.keys()
                    if len(data.getlist(name)) > 1 and not isinstance(self.fields.get(name), serializers.ListField)
                })
            # A form or query string sends "" for a field left empty; only text may be empty.
            errors.update({
                name: _("This field may not be blank.")
                for name, field in self.fields.items()
                if data.get(name) == "" and not isinstance(field, serializers.CharField)
            })
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class CleanTextField(serializers.CharField):
    """Text that arrived intact: multipart decoding turns bytes that are not UTF-8 into U+FFFD,
    which we refuse rather than store a mangled address."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if "\ufffd" in value:
            raise serializers.ValidationError(_("Not valid UTF-8 text."), code="invalid_text")
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time with its UTC offset (or Z): a time without one is ambiguous."""

    def to_internal_value(self, value):
        if isinstance(value, str) and len(value) <= 64:
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:  # well-formed but impossible, e.g. minute 99: the parent says so
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                raise serializers.ValidationError(_("Give the time with its UTC offset, e.g. 2026-03-01T14:05:00-05:00."), code="naive")
        return super().to_internal_value(value)


# --- Activation -----------------------------------------------------------------------------


E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def _b64url_bytes(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return b""


class ChannelChoice(StrictSerializer):
    channel = serializers.ChoiceField(choices=NotifyChannel.choices)
    address = serializers.CharField(required=False, allow_blank=True, max_length=32, help_text="SMS: the mobile number in E.164 form, e.g. +16135550123.")
    push_endpoint = serializers.CharField(required=False, allow_blank=True, max_length=1000, help_text="Push: PushSubscription.endpoint.")
    push_p256dh = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text="Push: the subscription's p256dh key (base64url).")
    push_auth = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="Push: the subscription's auth secret (base64url).")

    def validate(self, data):
        channel = data["channel"]
        if channel == NotifyChannel.SMS and not E164.match(data.get("address", "")):
            raise serializers.ValidationError({"address": _("Give the mobile number with its country code, e.g. +16135550123.")})
        if channel == NotifyChannel.PUSH:
            endpoint = urlsplit(data.get("push_endpoint", ""))
            local = endpoint.hostname in ("127.0.0.1", "localhost")
            if endpoint.scheme != "https" and not (local and endpoint.scheme == "http"):
                raise serializers.ValidationError({"push_endpoint": _("The push endpoint must be an https URL.")})
            if len(_b64url_bytes(data.get("push_p256dh", ""))) != 65:
                raise serializers.ValidationError({"push_p256dh": _("Not a P-256 public key (65 bytes, base64url).")})
            if len(_b64url_bytes(data.get("push_auth", ""))) != 16:
                raise serializers.ValidationError({"push_auth": _("Not a push auth secret (16 bytes, base64url).")})
        if channel != NotifyChannel.SMS and data.get("address"):
            raise serializers.ValidationError({"address": _("Only text messages take a number.")})
        return data


class ActivateInput(StrictSerializer):
    activation_code = serializers.CharField(max_length=32, help_text=_("The code the officer gave, e.g. ABCD-EFGH-JKMN."))
    uci = serializers.RegexField(r"^\d{8,10}$", help_text=_("Unique client identifier: 8 to 10 digits."))
    date_of_birth = serializers.DateField(help_text=_("YYYY-MM-DD"))
    device_name = CleanTextField(max_length=100, help_text=_("A name for this phone, shown to officers."))
    platform = serializers.ChoiceField(choices=Platform.choices)
    channels = ChannelChoice(
        many=True, max_length=3, required=False,
        help_text=_("Optional: the channels chosen for reminders and notices, as in PUT /api/v1/channels (left out: email only)."),
    )
    language = serializers.ChoiceField(
        choices=Language.choices, required=False, help_text=_("With `channels`: the language of the consent texts the person read."),
    )

    def validate(self, data):
        if data.get("channels") and "language" not in data:
            raise serializers.ValidationError({"language": _("Name the language of the consent texts read.")})
        return data


class ClientBrief(serializers.Serializer):
    uci = serializers.CharField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    preferred_language = serializers.ChoiceField(choices=Language.choices)


class ActivateOutput(serializers.Serializer):
    token = serializers.CharField(help_text=_("The device token, shown once: send it as `Authorization: Token <token>`."))
    client = ClientBrief()


# For the docs, beside the serializers they show.
ACTIVATE_EXAMPLE = OpenApiExample(
    "activation",
    value={"activation_code": "ABCD-EFGH-JKMN", "uci": "11000001", "date_of_birth": "1988-04-12", "device_name": "Alex's phone", "platform": "android"},
    request_only=True,
)
ACTIVATED_EXAMPLE = OpenApiExample(
    "activated",
    value={"token": "q3VbJ8…", "client": {"uci": "11000001", "given_name": "Alex", "family_name": "Tremblay", "preferred_language": "en"}},
    response_only=True,
    status_codes=["201"],
)

# --- Consent --------------------------------------------------------------------------------


class ConsentTextQuery(StrictSerializer):
    kind = serializers.ChoiceField(choices=ConsentKind.choices)
    language = serializers.ChoiceField(
        choices=Language.choices, required=False, help_text=_("Defaults to the language of the request.")
    )


class ConsentTextOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ConsentKind.choices)
    language = serializers.ChoiceField(choices=Language.choices)
    version = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField()
    sha256 = serializers.CharField(help_text=_("sha256 of the title, two newlines and the body, as shown."))
    published_at = serializers.DateTimeField()


CONSENT_TEXT_EXAMPLE = OpenApiExample(
    "text",
    value={"kind": "biometric", "language": "en", "version": "2026-01", "title": "Use of your likeness (face comparison)", "body": "The photo you take when you report is compared…", "sha256": "9f2c…", "published_at": "2026-01-01T00:00:00Z"},
)

class ConsentInput(StrictSerializer):
    kind = serializers.ChoiceField(choices=ConsentKind.choices)
    decision = serializers.ChoiceField(choices=ConsentDecision.choices)
    text_version = serializers.CharField(max_length=32, help_text=_("The version of the text the person read."))
    language = serializers.ChoiceField(choices=Language.choices, help_text=_("The language of the text the person read."))


CONSENT_EXAMPLE = OpenApiExample(
    "grant", value={"kind": "biometric", "decision": "granted", "text_version": "2026-01", "language": "en"}, request_only=True
)

class ConsentStateOutput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ConsentDecision.choices, allow_null=True, help_text=_("Null: never asked."))
    text_version = serializers.CharField(allow_null=True)
    current_version = serializers.CharField(allow_null=True, help_text=_("The version of the text in force."))
    recorded_at = serializers.DateTimeField(allow_null=True)
    granted = serializers.BooleanField(help_text=_("Granted, to the text in force."))
    renewal_needed = serializers.BooleanField(help_text=_("Granted to an older text: read the new one and answer again."))


class ConsentsOutput(serializers.Serializer):
    app_use = ConsentStateOutput()
    biometric = ConsentStateOutput()
    remote_reporting_allowed = serializers.BooleanField(help_text=_("Both consents granted to the texts in force."))


CONSENTS_EXAMPLE = OpenApiExample(
    "state",
    value={
        "app_use": {"decision": "granted", "text_version": "2026-01", "current_version": "2026-01", "recorded_at": "2026-03-01T14:05:00Z", "granted": True, "renewal_needed": False},
        "biometric": {"decision": "granted", "text_version": "2026-01", "current_version": "2026-01", "recorded_at": "2026-03-01T14:05:10Z", "granted": True, "renewal_needed": False},
        "remote_reporting_allowed": True,
    },
)

# --- Me -------------------------------------------------------------------------------------


class RegionOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class ProfileOutput(serializers.Serializer):
    uci = serializers.CharField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    date_of_birth = serializers.DateField()
    preferred_language = serializers.ChoiceField(choices=Language.choices)
    region = RegionOutput()
    time_zone = serializers.CharField(help_text=_("IANA zone of the client's local time."))
    utc_offset = serializers.RegexField(
        r"^[+-]\d\d:\d\d$",
        help_text=_("The zone's UTC offset now, e.g. -07:00, from the server's pinned zone data: a phone whose own zone data is out of date shows local times with it."),
    )
    address = serializers.CharField(allow_blank=True)
    employment = serializers.CharField(allow_blank=True)
    family_status = serializers.CharField(allow_blank=True)


class AreaOutput(serializers.Serializer):
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    radius_km = serializers.FloatField()


class ConditionOutput(serializers.Serializer):
    method = serializers.ChoiceField(choices=ReportingMethod.choices)
    schedule = serializers.ChoiceField(choices=Schedule.choices)
    weekdays = serializers.ListField(
        child=serializers.ChoiceField(choices=WEEKDAY_NAMES), help_text=_("Weekly schedules: the days.")
    )
    interval_days = serializers.IntegerField(allow_null=True)
    day_of_month = serializers.IntegerField(allow_null=True)
    window_start = serializers.RegexField(r"^\d\d:\d\d$", help_text=_("Local time the window opens, HH:MM."))
    window_minutes = serializers.IntegerField()
    grace_minutes = serializers.IntegerField()
    starts_on = serializers.DateField()
    ends_on = serializers.DateField(allow_null=True)
    permitted_area = AreaOutput(allow_null=True)
    single_selfie_allowed = serializers.BooleanField(help_text=_("Accessibility: one selfie instead of the head-turn challenge."))


class WindowOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    opens_at = serializers.DateTimeField(help_text=_("UTC"))
    closes_at = serializers.DateTimeField(help_text=_("UTC"))
    deadline_at = serializers.DateTimeField(help_text=_("UTC: a report captured in the window must arrive by then."))
    time_zone = serializers.CharField()
    opens_at_local = serializers.CharField(help_text=_("Local time with its UTC offset."))
    closes_at_local = serializers.CharField()
    deadline_at_local = serializers.CharField()

    @staticmethod
    def of(window, zone: str) -> dict | None:
        if window is None:
            return None
        tz = ZoneInfo(zone)
        return {
            "id": window.pk,
            "status": window.status,
            "opens_at": window.opens_at,
            "closes_at": window.closes_at,
            "deadline_at": window.deadline_at,
            "time_zone": zone,
            "opens_at_local": window.opens_at.astimezone(tz).isoformat(),
            "closes_at_local": window.closes_at.astimezone(tz).isoformat(),
            "deadline_at_local": window.deadline_at.astimezone(tz).isoformat(),
        }


WINDOW_EXAMPLE = {
    "id": 812, "status": "open", "opens_at": "2026-03-02T14:00:00Z", "closes_at": "2026-03-02T22:00:00Z",
    "deadline_at": "2026-03-02T23:00:00Z", "time_zone": "America/Toronto", "opens_at_local": "2026-03-02T09:00:00-05:00",
    "closes_at_local": "2026-03-02T17:00:00-05:00", "deadline_at_local": "2026-03-02T18:00:00-05:00",
}

class PendingActionOutput(serializers.Serializer):
    code = serializers.ChoiceField(choices=["give_consent", "renew_consent", "report_in_person", "check_in_now"])
    message = serializers.CharField()


class OfficeOutput(serializers.Serializer):
    name = serializers.CharField()
    address = serializers.CharField()
    hours = serializers.CharField()
    phone = serializers.CharField()
    languages = serializers.ListField(child=serializers.CharField())


class OfficerOutput(serializers.Serializer):
    name = serializers.CharField()


class MeOutput(serializers.Serializer):
    profile = ProfileOutput()
    consents = ConsentsOutput()
    condition = ConditionOutput(allow_null=True)
    current_window = WindowOutput(allow_null=True)
    next_window = WindowOutput(allow_null=True)
    pending_actions = PendingActionOutput(many=True)
    pending_notices = serializers.ListField(
        child=serializers.DictField(), help_text="Unread notices, newest first, as GET /api/v1/notices gives them."
    )
    office = OfficeOutput(allow_null=True, help_text="Where to report in person, and whom to call.")
    case_officer = OfficerOutput(allow_null=True)
    recent_missed_windows = WindowOutput(many=True, help_text="Missed windows of the last 30 days, newest first.")
    liveness_required = serializers.BooleanField(
        help_text=_("Check-ins must answer a liveness challenge (POST /api/v1/check-ins/challenge) and send its frames.")
    )
    unread_messages = serializers.IntegerField(help_text="Officers' messages not marked read (GET /api/v1/messages).")


ME_EXAMPLE = OpenApiExample(
    "me",
    value={
        "profile": {"uci": "11000001", "given_name": "Alex", "family_name": "Tremblay", "date_of_birth": "1988-04-12", "preferred_language": "en", "region": {"code": "gta", "name": "Greater Toronto Area"}, "time_zone": "America/Toronto", "utc_offset": "-05:00", "address": "12 Queen St W, Toronto", "employment": "", "family_status": ""},
        "consents": {
            "app_use": {"decision": "granted", "text_version": "2025-06", "current_version": "2026-01", "recorded_at": "2025-07-01T14:05:00Z", "granted": False, "renewal_needed": True},
            "biometric": {"decision": "granted", "text_version": "2026-01", "current_version": "2026-01", "recorded_at": "2026-01-03T10:00:00Z", "granted": True, "renewal_needed": False},
            "remote_reporting_allowed": False,
        },
        "condition": {"method": "remote", "schedule": "weekly", "weekdays": ["Mon", "Thu"], "interval_days": None, "day_of_month": None, "window_start": "09:00", "window_minutes": 480, "grace_minutes": 60, "starts_on": "2026-01-05", "ends_on": None, "permitted_area": {"latitude": 43.6532, "longitude": -79.3832, "radius_km": 50.0}, "single_selfie_allowed": False},
        "current_window": WINDOW_EXAMPLE,
        "next_window": {**WINDOW_EXAMPLE, "id": 813, "opens_at": "2026-03-05T14:00:00Z", "closes_at": "2026-03-05T22:00:00Z", "deadline_at": "2026-03-05T23:00:00Z", "opens_at_local": "2026-03-05T09:00:00-05:00", "closes_at_local": "2026-03-05T17:00:00-05:00", "deadline_at_local": "2026-03-05T18:00:00-05:00"},
        "pending_actions": [{"code": "renew_consent", "message": "A consent text has changed. Read it again and give your answer."}],
        "pending_notices": [],
        "office": {"name": "Toronto CBSA office", "address": "6900 Airport Rd, Mississauga ON L4V 1E8", "hours": "Monday to Friday, 8:00 to 16:00", "phone": "+1 905-676-2563", "languages": ["English", "French", "Spanish"]},
        "case_officer": {"name": "Alex Martin"},
        "recent_missed_windows": [],
        "liveness_required": True,
        "unread_messages": 1,
    },
)

# --- Check-ins ------------------------------------------------------------------------------


class FieldsMadeOnce:
    """DRF makes every field anew (a deep copy of the declared ones) for every serializer
    made: about 1 ms of CPU per check-in (issue 16.5). This mixin makes them once per process
    and language and gives each serializer shallow copies: each binds its own field objects
    as usual. What the copies share is not changed by validating: error messages, validators
    (whose messages are put into words once, in the language active then, hence one set of
    fields per language), a ListField's child. Only for flat serializers."""

    _field_prototypes: dict

    def get_fields(self):
        cls = type(self)
        if "_field_prototypes" not in cls.__dict__:
            cls._field_prototypes = {}
        language = translation.get_language()
        prototypes = cls._field_prototypes.get(language)
        if prototypes is None:
            prototypes = super().get_fields()
            if any(isinstance(field, serializers.BaseSerializer) for field in prototypes.values()):
                raise TypeError(f"{cls.__name__}: FieldsMadeOnce is for serializers without nested serializers")
            # A race makes a second set, the same as the first: harmless.
            cls._field_prototypes[language] = prototypes
        return {name: copy.copy(field) for name, field in prototypes.items()}


class CheckInInput(FieldsMadeOnce, StrictSerializer):
    selfie = serializers.FileField(
        allow_empty_file=True, max_length=255, required=False,
        help_text=_(
            "JPEG, PNG or HEIC; at most 10 MB by default. Metadata is removed before it is stored. "
            "Required without `frames`; with them it may be left out (the first frontal frame is the selfie)."
        ),
    )
    challenge = serializers.CharField(
        max_length=64, required=False,
        help_text=_("The nonce of a liveness challenge (POST /api/v1/check-ins/challenge), sent with its frames."),
    )
    frames = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, max_length=255), required=False,
        min_length=3, max_length=5,
        help_text=_(
            "The challenge's frames, one per pose asked and in that order (the field repeated 3 to 5 times): "
            "JPEG, PNG or HEIC, checked and stored like the selfie. About 1 MP each is plenty; all files of "
            "a request together are capped at 10 MB by default."
        ),
    )
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    accuracy_m = serializers.FloatField(max_value=100_000, help_text=_("The fix's accuracy radius in metres; more than 0."))
    captured_at = AwareDateTimeField(help_text=_("When the photo was taken (phone clock), with UTC offset."))
    address = CleanTextField(max_length=500, required=False, help_text=_("Only when it changed."))
    employment = CleanTextField(max_length=300, required=False, help_text=_("Only when it changed."))
    family_status = CleanTextField(max_length=300, required=False, help_text=_("Only when it changed."))

    def validate_accuracy_m(self, value):
        if value <= 0:
            raise serializers.ValidationError(_("Must be more than 0."), code="min_value")
        return value

    def validate_captured_at(self, value):
        now = timezone.now()
        if value > now + CAPTURE_CLOCK_SKEW:
            raise serializers.ValidationError(_("This time is in the future; check the phone's clock."), code="future")
        if value < now - CAPTURE_MAX_AGE:
            raise serializers.ValidationError(_("This report is too old to be accepted."), code="too_old")
        return value


CHECKIN_SUBMIT_EXAMPLE = OpenApiExample(
    "check-in",
    value={"selfie": "(JPEG bytes)", "latitude": 43.6532, "longitude": -79.3832, "accuracy_m": 12.5, "captured_at": "2026-03-02T10:04:11-05:00", "employment": "Cook, Maple Diner, since 2026-02-15"},
    request_only=True,
    media_type="multipart/form-data",
)

class ChallengeOutput(serializers.Serializer):
    challenge = serializers.CharField(help_text=_("The single-use nonce: send it as `challenge` with the frames."))
    poses = serializers.ListField(
        child=serializers.ChoiceField(choices=["frontal", "left", "right"]),
        help_text=_("Film one frame per pose, in this order. Left and right are the person's own."),
    )
    instructions = serializers.ListField(child=serializers.CharField(), help_text=_("Each pose in plain words, in the reader's language."))
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text=_("The check-in with the frames must arrive by then."))


CHALLENGE_EXAMPLE = OpenApiExample(
    "challenge",
    value={
        "challenge": "k3Jx0R6mJ1v8m2Yb9WQ4oH1c7uT5rZaE", "poses": ["frontal", "right", "left"],
        "instructions": ["Look straight at the camera.", "Turn your head to your right.", "Turn your head to your left."],
        "issued_at": "2026-03-02T15:04:00Z", "expires_at": "2026-03-02T15:06:00Z",
    },
)

class WindowBrief(serializers.Serializer):
    id = serializers.IntegerField()
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()


class CheckInAccepted(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CheckInStatus.choices)
    window = WindowBrief(allow_null=True, help_text=_("The window this report counts for; null for an unscheduled report."))


class CheckInOutput(CheckInAccepted):
    status_text = serializers.CharField(help_text=_("The status in plain words, in the reader's language."))
    captured_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()


CHECKIN_EXAMPLE = {
    "id": 4711, "status": "verified", "window": {"id": 812, "opens_at": "2026-03-02T14:00:00Z", "closes_at": "2026-03-02T22:00:00Z"},
    "status_text": "Your report was accepted.", "captured_at": "2026-03-02T15:04:11Z", "received_at": "2026-03-02T15:04:13Z",
}

class CheckInListQuery(StrictSerializer):
    before = serializers.IntegerField(min_value=1, required=False, help_text=_("Only check-ins with a smaller id (next page)."))
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


class CheckInListOutput(serializers.Serializer):
    results = CheckInOutput(many=True)
    next_before = serializers.IntegerField(allow_null=True, help_text=_("Pass as `before` for the next page; null on the last."))
