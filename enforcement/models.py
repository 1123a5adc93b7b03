"""The enforcement domain: clients, consent, conditions, windows, tasks and the audit trail.

Each status is a TextChoices with an explicit table of allowed transitions beside it;
services move rows with `enforcement.transitions.transition`, a conditional UPDATE whose
WHERE clause is the table. Models hold fields,
constraints and pure derived values; every state change goes through `services.py`.

This app never imports `reportin`. Where a row points at a check-in it stores the id
(`checkin_id`), handed over by a service call.
"""

import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from enforcement.storage import RecordBoundFileField

uci_validator = RegexValidator(r"^\d{8,10}$", _("A UCI is 8 to 10 digits."))
country_validator = RegexValidator(r"^[A-Z]{2}$", _("Use the two-letter ISO 3166 country code, e.g. HT."))


def validate_time_zone(value: str) -> None:
    from django.core.exceptions import ValidationError

    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(_("“%(value)s” is not an IANA time zone."), params={"value": value})


class Language(models.TextChoices):
    """The languages of the app, the consent texts and the notices (issue 18.9): English and
    French, and the languages of the largest groups in the removal inventory. Each is named in
    itself. Words not translated yet are shown in English (manage.py translations_check)."""

    EN = "en", "English"
    FR = "fr", "Français"
    ES = "es", "Español"
    PA = "pa", "ਪੰਜਾਬੀ"
    HI = "hi", "हिन्दी"
    HT = "ht", "Kreyòl ayisyen"
    AR = "ar", "العربية"


class Region(models.Model):
    """A CBSA-style region; its time zone is the default local time of its clients."""

    code = models.SlugField(max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=64)
    name_fr = models.CharField(_("French name"), max_length=64)
    time_zone = models.CharField(_("time zone"), max_length=64, validators=[validate_time_zone])

    class Meta:
        ordering = ["name"]
        verbose_name = _("region")
        verbose_name_plural = _("regions")

    def __str__(self):
        return self.name


class User(AbstractUser):
    """A staff member: officer, supervisor or auditor (by group). Officers see their region only."""

    region = models.ForeignKey(
        Region, null=True, blank=True, on_delete=models.PROTECT, related_name="staff", verbose_name=_("region")
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("staff user")
        verbose_name_plural = _("staff users")


class CaseStatus(models.TextChoices):
    MONITORED = "monitored", _("Monitored")
    WORKING = "working", _("Removal being worked")
    STAY = "stay", _("Stay of removal")
    WANTED = "wanted", _("Wanted")
    REMOVED = "removed", _("Removed")
    CLOSED = "closed", _("Closed")


_OPEN_CASE = {CaseStatus.MONITORED, CaseStatus.WORKING, CaseStatus.STAY, CaseStatus.WANTED}
CASE_STATUS_TRANSITIONS = {
    CaseStatus.MONITORED: frozenset(_OPEN_CASE - {CaseStatus.MONITORED} | {CaseStatus.REMOVED, CaseStatus.CLOSED}),
    CaseStatus.WORKING: frozenset(_OPEN_CASE - {CaseStatus.WORKING} | {CaseStatus.REMOVED, CaseStatus.CLOSED}),
    CaseStatus.STAY: frozenset(_OPEN_CASE - {CaseStatus.STAY} | {CaseStatus.CLOSED}),
    CaseStatus.WANTED: frozenset(_OPEN_CASE - {CaseStatus.WANTED} | {CaseStatus.REMOVED, CaseStatus.CLOSED}),
    CaseStatus.REMOVED: frozenset({CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset({CaseStatus.MONITORED}),  # a case can be reopened
}


class Client(models.Model):
    """A person under reporting conditions."""

    uci = models.CharField(_("UCI"), max_length=10, unique=True, validators=[uci_validator])
    given_name = models.CharField(_("given name"), max_length=100)
    family_name = models.CharField(_("family name"), max_length=100)
    date_of_birth = models.DateField(_("date of birth"))
    country_of_citizenship = models.CharField(_("country of citizenship"), max_length=2, validators=[country_validator])
    preferred_language = models.CharField(
        _("preferred language"), max_length=2, choices=Language.choices, default=Language.EN
    )
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="clients", verbose_name=_("region"))
    time_zone = models.CharField(
        _("time zone override"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("Leave empty to use the region's time zone."),
    )
    case_status = models.CharField(
        _("case status"), max_length=16, choices=CaseStatus.choices, default=CaseStatus.MONITORED
    )
    case_officer = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases", verbose_name=_("case officer")
    )
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    address = models.TextField(_("current address"), max_length=500, blank=True)
    employment = models.CharField(_("current employment"), max_length=300, blank=True)
    family_status = models.CharField(_("current family status"), max_length=300, blank=True)
    supervisor_attention = models.BooleanField(
        _("needs supervisor attention"),
        default=False,
        help_text=_("Set after repeated missed reports; a supervisor decides what, if anything, follows."),
    )
    case_closed_at = models.DateTimeField(_("case closed at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name"]
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        indexes = [models.Index(fields=["region", "family_name"])]
        constraints = [
            models.CheckConstraint(condition=Q(case_status="closed") | Q(case_closed_at__isnull=True), name="client_closed_at_only_when_closed"),
        ]

    def __str__(self):
        return f"{self.family_name.upper()}, {self.given_name} ({self.uci})"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def local_time_zone(self) -> str:
        """The IANA zone the client's windows are computed in (the override or the region's)."""
        return self.time_zone or self.region.time_zone


class CircumstanceField(models.TextChoices):
    ADDRESS = "address", _("Address")
    EMPLOYMENT = "employment", _("Employment")
    FAMILY_STATUS = "family_status", _("Family status")


class Channel(models.TextChoices):
    APP = "app", _("App")
    IN_PERSON = "in_person", _("In person")


class CircumstanceChange(models.Model):
    """History of address, employment and family status: nothing is overwritten silently."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="circumstance_changes")
    field = models.CharField(max_length=16, choices=CircumstanceField.choices)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    checkin_id = models.BigIntegerField(null=True, blank=True, help_text=_("The check-in that reported it, if any."))
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        verbose_name = _("circumstance change")
        verbose_name_plural = _("circumstance changes")
        indexes = [models.Index(fields=["client", "-recorded_at"])]


# --- Reference photos -----------------------------------------------------------------------


class PhotoStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    READY = "ready", _("Ready")
    REJECTED = "rejected", _("Rejected")
    # Image and encoding deleted (retention period over, or the likeness consent withdrawn);
    # the row stays for the match log.
    PURGED = "purged", _("Deleted")


PHOTO_STATUS_TRANSITIONS = {
    PhotoStatus.PENDING: frozenset({PhotoStatus.READY, PhotoStatus.REJECTED, PhotoStatus.PURGED}),
    PhotoStatus.READY: frozenset({PhotoStatus.PURGED}),
    PhotoStatus.REJECTED: frozenset({PhotoStatus.PURGED}),
    PhotoStatus.PURGED: frozenset(),
}


def reference_photo_path(instance, filename):
    # Random names: a file name must not reveal whose photo it is.
    import uuid

    return f"references/{uuid.uuid4().hex}.img"


class ReferencePhoto(models.Model):
    """A photo taken at enrolment that selfies are compared with."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="reference_photos")
    image = RecordBoundFileField(_("image"), upload_to=reference_photo_path, max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    phash = models.CharField(_("perceptual hash"), max_length=16, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    face_box = models.JSONField(null=True, blank=True, help_text=_("top, right, bottom, left in image pixels"))
    quality = models.JSONField(default=dict, blank=True)
    # The face encoding, encrypted at rest (enforcement.crypto), bound to this row; never shown.
    encoding = models.BinaryField(null=True, blank=True, editable=False)
    # Encrypted values bound to this row (enforcement.crypto.record_label); `reencrypt` walks them.
    SEALED_VALUES = ("encoding",)
    model_version = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=PhotoStatus.choices, default=PhotoStatus.PENDING)
    rejection_code = models.CharField(max_length=32, blank=True)
    rejection_message = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    uploaded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["client", "created_at"]
        verbose_name = _("reference photo")
        verbose_name_plural = _("reference photos")
        indexes = [models.Index(fields=["client", "status", "active"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="ready") | Q(encoding__isnull=False), name="refphoto_ready_has_encoding"
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_code=""), name="refphoto_rejected_has_reason"
            ),
        ]

    def __str__(self):
        return f"Reference photo {self.pk} of {self.client_id} ({self.status})"


class ReferenceEncoding(models.Model):
    """A reference photo encoded again by another face model than the one it was enrolled
    with (manage.py reencode_references), so that a model upgrade finds every reference ready
    before it goes live. The photo's own `encoding` stays for its `model_version` (the model
    still running) until the photo is purged; scoring uses the encoding of its own model only.
    An `encoding` of None records that the model found no usable face in this photo."""

    photo = models.ForeignKey(ReferencePhoto, on_delete=models.CASCADE, related_name="reencodings")
    model_version = models.CharField(max_length=64)
    # Encrypted at rest and sealed to this row (enforcement.crypto.record_label); never shown.
    encoding = models.BinaryField(null=True, blank=True, editable=False)
    SEALED_VALUES = ("encoding",)
    outcome = models.CharField(max_length=32)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["photo", "model_version"]
        verbose_name = _("reference encoding")
        verbose_name_plural = _("reference encodings")
        constraints = [
            models.UniqueConstraint(fields=["photo", "model_version"], name="refencoding_one_per_photo_model"),
            models.CheckConstraint(condition=~Q(outcome="ok") | Q(encoding__isnull=False), name="refencoding_ok_has_encoding"),
        ]

    def __str__(self):
        return f"Encoding of reference photo {self.photo_id} by {self.model_version} ({self.outcome})"


class RecentReferenceSource(models.TextChoices):
    OFFICER_CONFIRMED = "officer_confirmed", _("Selfie confirmed by an officer")
    VERIFIED_CLOSE = "verified_close", _("Verified selfie well inside the threshold")


class RecentReference(models.Model):
    """A recent check-in selfie's face encoding that the decision uses beside the enrolment
    photos, so that the comparison follows a face that ages or changes (beard, glasses,
    weight). Added with the client's biometric consent only, from a check-in without any open
    task; a bounded set per client (the oldest is retired when a new one comes); never
    replaces a reference photo. The selfie itself stays with its check-in."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="recent_references")
    # reportin.CheckIn; an id, not a foreign key: enforcement does not depend on reportin.
    checkin_id = models.BigIntegerField(unique=True)
    source = models.CharField(max_length=24, choices=RecentReferenceSource.choices)
    # The face encoding, encrypted at rest (enforcement.crypto), bound to this row; never shown.
    encoding = models.BinaryField(editable=False)
    SEALED_VALUES = ("encoding",)
    model_version = models.CharField(max_length=64)
    distance = models.FloatField(null=True, blank=True, help_text=_("distance to the references when it was added"))
    threshold = models.FloatField(null=True, blank=True)
    added_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    active = models.BooleanField(default=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["client", "-created_at"]
        verbose_name = _("recent reference")
        verbose_name_plural = _("recent references")
        # scoring reads a client's active ones on every check-in
        indexes = [models.Index(fields=["client", "active", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(active=True) | Q(retired_at__isnull=False), name="recentref_retired_has_time"),
        ]

    def __str__(self):
        return f"Recent reference {self.pk} of {self.client_id} (check-in {self.checkin_id})"


# --- Consent --------------------------------------------------------------------------------


class ConsentKind(models.TextChoices):
    APP_USE = "app_use", _("Use of the app")
    BIOMETRIC = "biometric", _("Use of my likeness (face comparison)")


class ConsentDecision(models.TextChoices):
    GRANTED = "granted", _("Granted")
    REFUSED = "refused", _("Refused")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ConsentText(models.Model):
    """One published version of a consent text in one language. The newest version of a kind
    is the current one; a client who granted an older version is asked again."""

    kind = models.CharField(max_length=16, choices=ConsentKind.choices)
    language = models.CharField(max_length=2, choices=Language.choices)
    version = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    body = models.TextField()
    sha256 = models.CharField(max_length=64, help_text=_("sha256 of title + body as shown"))
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["kind", "language", "-published_at"]
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        constraints = [
            models.UniqueConstraint(fields=["kind", "language", "version"], name="consent_text_unique_version"),
        ]

    def __str__(self):
        return f"{self.kind} {self.version} ({self.language})"


class ConsentRecord(models.Model):
    """Append-only (refused at the database level): the current state of each kind is the
    latest record of that kind."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="consent_records")
    kind = models.CharField(max_length=16, choices=ConsentKind.choices)
    decision = models.CharField(max_length=16, choices=ConsentDecision.choices)
    text_version = models.CharField(max_length=32)
    text_sha256 = models.CharField(max_length=64)
    language = models.CharField(max_length=2, choices=Language.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    recorded_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text=_("Officer, for in-person consent.")
    )
    device_id = models.BigIntegerField(null=True, blank=True, help_text=_("The device, for consent given in the app."))
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        indexes = [models.Index(fields=["client", "kind", "-recorded_at", "-id"])]

    def __str__(self):
        return f"{self.kind} {self.decision} ({self.recorded_at:%Y-%m-%d})"


# --- Activation codes ------------------------------------------------------------------------


class ActivationCode(models.Model):
    """Single use, short-lived, stored hashed. Issued by an officer at enrolment; the app
    exchanges it (with UCI and date of birth) for a device token."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="activation_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    issued_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("activation code")
        verbose_name_plural = _("activation codes")
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("issued_at")), name="activation_expires_after_issue"),
        ]

    def __str__(self):
        return f"Activation code {self.pk} for client {self.client_id}"


class ActivationThrottle(models.Model):
    """Failed activation attempts, shared by every web process. Counted per (UCI, client
    address), so a stranger guessing from elsewhere does not lock out the person at their own
    address; per UCI with a higher ceiling, against a guess spread over many addresses; and per
    address, against one address trying many UCIs. Keys are keyed hashes: no UCI or address is
    kept in clear. `uci_hash` finds the rows of one client, to show and clear them."""

    class Scope(models.TextChoices):
        UCI = "uci", "UCI"
        UCI_ADDRESS = "uci_address", _("UCI from one address")
        ADDRESS = "address", _("Client address")

    scope = models.CharField(max_length=16, choices=Scope.choices)
    key_hash = models.CharField(max_length=64)
    uci_hash = models.CharField(max_length=64, blank=True, db_index=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("activation throttle")
        verbose_name_plural = _("activation throttles")
        constraints = [models.UniqueConstraint(fields=["scope", "key_hash"], name="activation_throttle_scope_key_unique")]

    def __str__(self):
        return f"{self.scope} {self.key_hash[:8]}… ({self.failures} failures)"


# --- Conditions and windows ------------------------------------------------------------------


class ReportingMethod(models.TextChoices):
    REMOTE = "remote", _("Remote (app)")
    IN_PERSON = "in_person", _("In person")


class Schedule(models.TextChoices):
    WEEKLY = "weekly", _("Weekly on given weekdays")
    EVERY_N_DAYS = "every_n_days", _("Every N days")
    MONTHLY = "monthly", _("Monthly on a day of the month")


WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class ReportingCondition(models.Model):
    """When and where a client must report. At most one active condition per client."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="conditions")
    method = models.CharField(_("method"), max_length=16, choices=ReportingMethod.choices, default=ReportingMethod.REMOTE)
    schedule = models.CharField(_("schedule"), max_length=16, choices=Schedule.choices, default=Schedule.WEEKLY)
    # Bit i set = weekday i (Monday = 0), as in date.weekday().
    weekdays = models.PositiveSmallIntegerField(
        _("weekdays"), default=0, validators=[MaxValueValidator(127)], help_text=_("Weekly schedules: bit 0 = Monday … bit 6 = Sunday.")
    )
    interval_days = models.PositiveSmallIntegerField(_("every N days"), null=True, blank=True, validators=[MinValueValidator(1)])
    day_of_month = models.PositiveSmallIntegerField(
        _("day of month"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text=_("Monthly schedules: the last day is used in shorter months."),
    )
    window_start = models.TimeField(_("window opens (local time)"))
    window_minutes = models.PositiveIntegerField(
        _("window length (minutes)"), validators=[MinValueValidator(5), MaxValueValidator(7 * 24 * 60)]
    )
    grace_minutes = models.PositiveIntegerField(
        _("grace period (minutes)"), default=60, validators=[MaxValueValidator(7 * 24 * 60)],
        help_text=_("How long after the window closes a report captured in it may still arrive."),
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    area_latitude = models.FloatField(_("permitted area: centre latitude"), null=True, blank=True)
    area_longitude = models.FloatField(_("permitted area: centre longitude"), null=True, blank=True)
    area_radius_km = models.FloatField(_("permitted area: radius (km)"), null=True, blank=True)
    # Accessibility: a person who cannot turn their head on request (or whose phone cannot
    # film) may report with one selfie; the check-in is recorded as such. Everyone else
    # answers a liveness challenge (README: Liveness), when REPORTIN_LIVENESS_REQUIRED is on.
    single_selfie_allowed = models.BooleanField(
        _("single selfie allowed"), default=False,
        help_text=_("Accessibility: report with one selfie instead of the head-turn challenge."),
    )
    active = models.BooleanField(default=True)
    # Windows that open before this instant are not created: set when this condition replaced
    # another (the change time) or came during a window (its end), so the client is never
    # held to two windows at once.
    effective_from = models.DateTimeField(_("takes effect from"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["client", "-created_at"]
        verbose_name = _("reporting condition")
        verbose_name_plural = _("reporting conditions")
        constraints = [
            models.UniqueConstraint(fields=["client"], condition=Q(active=True), name="condition_one_active_per_client"),
            models.CheckConstraint(
                # IS NOT NULL spelt out: in SQL a comparison with NULL is unknown, and a CHECK
                # passes on unknown.
                condition=(
                    Q(schedule="weekly", weekdays__isnull=False, weekdays__gt=0, weekdays__lte=127)
                    | Q(schedule="every_n_days", interval_days__isnull=False, interval_days__gte=1)
                    | Q(schedule="monthly", day_of_month__isnull=False, day_of_month__gte=1, day_of_month__lte=31)
                ),
                name="condition_schedule_complete",
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")), name="condition_ends_after_start"
            ),
            models.CheckConstraint(
                condition=(
                    Q(area_latitude__isnull=True, area_longitude__isnull=True, area_radius_km__isnull=True)
                    | Q(
                        area_latitude__gte=-90, area_latitude__lte=90,
                        area_longitude__gte=-180, area_longitude__lte=180,
                        area_radius_km__gt=0,
                    )
                ),
                name="condition_area_complete_and_valid",
            ),
        ]

    def __str__(self):
        return f"{self.get_method_display()} / {self.get_schedule_display()} for client {self.client_id}"

    @property
    def weekday_list(self) -> list[int]:
        return [day for day in range(7) if self.weekdays & (1 << day)]

    @property
    def has_area(self) -> bool:
        return self.area_radius_km is not None


class WindowStatus(models.TextChoices):
    OPEN = "open", _("Open")
    # A check-in arrived in time and is being checked (or reviewed by an officer): the window
    # is not missed, whatever the time when the check is done.
    REPORTED = "reported", _("Reported, being checked")
    SATISFIED = "satisfied", _("Satisfied")
    MISSED = "missed", _("Missed")
    EXCUSED = "excused", _("Excused")


WINDOW_STATUS_TRANSITIONS = {
    WindowStatus.OPEN: frozenset({WindowStatus.REPORTED, WindowStatus.SATISFIED, WindowStatus.MISSED, WindowStatus.EXCUSED}),
    # An officer may find that the report was not the client's (missed) or excuse the window.
    WindowStatus.REPORTED: frozenset({WindowStatus.SATISFIED, WindowStatus.MISSED, WindowStatus.EXCUSED}),
    # Excused by an officer; or satisfied after all when an officer upholds the person's contest
    # of the refusal that made it missed (reportin.services.checkin_contest_decide).
    WindowStatus.MISSED: frozenset({WindowStatus.EXCUSED, WindowStatus.SATISFIED}),
    WindowStatus.SATISFIED: frozenset(),
    WindowStatus.EXCUSED: frozenset(),
}


class ReportingWindow(models.Model):
    """One due report, materialised ahead by the scheduler. Times are UTC, computed from the
    client's local time. "open" means unresolved (it may not have started yet)."""

    # No index of their own: the (condition, opens_at) and (client, opens_at) indexes below
    # serve these keys, and every index costs time on each write of a table this size.
    # None for an ad-hoc window: a one-off check-in an officer requested (requested_by).
    condition = models.ForeignKey(
        ReportingCondition, null=True, blank=True, on_delete=models.CASCADE, related_name="windows", db_index=False
    )
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="windows", db_index=False)
    requested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    # closes_at + the condition's grace period, copied here so that the minute-by-minute sweep
    # (WHERE status = 'open' AND deadline_at < now) is one range scan of a small partial index.
    deadline_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=WindowStatus.choices, default=WindowStatus.OPEN)
    satisfied_by_checkin_id = models.BigIntegerField(null=True, blank=True)
    satisfied_at = models.DateTimeField(null=True, blank=True)
    missed_at = models.DateTimeField(null=True, blank=True)
    excused_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    excused_reason = models.TextField(blank=True)
    excused_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["opens_at"]
        verbose_name = _("reporting window")
        verbose_name_plural = _("reporting windows")
        constraints = [
            models.UniqueConstraint(fields=["condition", "opens_at"], name="window_unique_per_condition_start"),
            models.CheckConstraint(condition=Q(closes_at__gt=models.F("opens_at")), name="window_closes_after_open"),
            models.CheckConstraint(condition=Q(deadline_at__gte=models.F("closes_at")), name="window_deadline_after_close"),
            models.CheckConstraint(
                condition=~Q(status="satisfied") | Q(satisfied_at__isnull=False), name="window_satisfied_has_time"
            ),
            models.CheckConstraint(
                condition=~Q(status="excused") | (Q(excused_at__isnull=False) & ~Q(excused_reason="")),
                name="window_excused_has_reason",
            ),
            # A window comes from a condition's schedule, or from an officer's request, never neither.
            models.CheckConstraint(
                condition=Q(condition__isnull=False) | Q(requested_by__isnull=False), name="window_condition_or_request"
            ),
        ]
        indexes = [
            # The sweep: open windows past their deadline.
            models.Index(fields=["deadline_at"], condition=Q(status="open"), name="window_open_deadline_idx"),
            # The sweep's second step finds the windows it has just missed (missed_at = its now)
            # to join them to open tasks; without this, a read of the whole table every minute.
            # With the client: the planner, blind to the tasks the same transaction has just
            # opened, may loop over tasks and probe per client. Partial: written only when a
            # window is missed, a few percent of them.
            models.Index(fields=["missed_at", "client"], condition=Q(status="missed"), name="window_missed_at_idx"),
            # A client's current and next windows, and their history.
            models.Index(fields=["client", "opens_at"], name="window_client_opens_idx"),
            # A day's settled windows for the figures' rollup (by deadline).
            models.Index(fields=["deadline_at"], name="window_deadline_idx"),
            models.Index(fields=["excused_by"], condition=Q(excused_by__isnull=False), name="window_excused_by_idx"),
            models.Index(fields=["requested_by"], condition=Q(requested_by__isnull=False), name="window_requested_by_idx"),
        ]

    @property
    def adhoc(self) -> bool:
        return self.condition_id is None

    def __str__(self):
        return f"Window {self.opens_at:%Y-%m-%d %H:%M}Z for client {self.client_id} ({self.status})"


# --- Investigation tasks --------------------------------------------------------------------


class SweepMark(models.Model):
    """How far the minute sweep has got: the `now` of the latest completed full sweep (one
    row). The next sweep looks only at deadlines from this mark (less a safety margin, see
    enforcement.compliance.SWEEP_MARGIN) up to its own `now`, so its cost does not grow with
    the history (and the dead index entries) of the windows table. Kept in the database, not
    in the beat's memory, so that a sweep after an outage catches up on every deadline."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    swept_to = models.DateTimeField()

    class Meta:
        verbose_name = _("sweep mark")

    def __str__(self):
        return f"Swept to {self.swept_to:%Y-%m-%d %H:%M:%S}Z"


class TaskReason(models.TextChoices):
    MISSED_REPORT = "missed_report", _("Missed report")
    FACE_NON_MATCH = "face_non_match", _("Face does not match")
    NO_FACE = "no_face", _("No face found")
    MULTIPLE_FACES = "multiple_faces", _("Several faces")
    LOW_QUALITY = "low_quality", _("Photo quality too low")
    UNREADABLE_IMAGE = "unreadable_image", _("Photo unreadable")
    POSSIBLE_REPLAY = "possible_replay", _("Possible re-sent photo")
    LOCATION_OUTSIDE_AREA = "location_outside_area", _("Reported from outside the permitted area")
    CONSENT_WITHDRAWN = "consent_withdrawn", _("Consent withdrawn: arrange in-person reporting")
    QUALITY_SAMPLE = "quality_sample", _("Random check of an automatic match")
    LIVENESS_FAILED = "liveness_failed", _("Liveness challenge not passed")
    # The person explains a missed window or contests a result, in a message (enforcement.messages).
    PERSON_ANSWER = "person_answer", _("The person explains or contests")
    MISSED_APPOINTMENT = "missed_appointment", _("Missed appointment")


class TaskPriority(models.IntegerChoices):
    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    RESOLVED = "resolved", _("Resolved")


TASK_STATUS_TRANSITIONS = {
    TaskStatus.OPEN: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.RESOLVED}),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.OPEN, TaskStatus.IN_PROGRESS, TaskStatus.RESOLVED}),
    TaskStatus.RESOLVED: frozenset(),
}


class TaskResolution(models.TextChoices):
    IDENTITY_CONFIRMED = "identity_confirmed", _("Identity confirmed")
    IDENTITY_NOT_CONFIRMED = "identity_not_confirmed", _("Identity not confirmed")
    FALSE_ALARM = "false_alarm", _("False alarm")
    CONTACT_MADE = "contact_made", _("Contact made")
    EXCUSED = "excused", _("Excused")
    ESCALATED = "escalated", _("Escalated")
    NO_ACTION = "no_action", _("No action needed")
    # Not an officer's decision: a duplicate open task folded into the open task of the same
    # client and reason (migration 0007), whose decision settles what it was about.
    MERGED = "merged", _("Merged into another open task")


class InvestigationTask(models.Model):
    """Something an officer must look at. Officers make every decision; the system only asks."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="tasks")
    # The client's region, kept here so that the officers' queue (one region's unresolved
    # tasks, by priority then age) is read from one index without joining clients.
    # services.task_open sets it and services.client_update moves it with the client.
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+", editable=False)
    reason = models.CharField(max_length=32, choices=TaskReason.choices)
    # The source: one of these is set. Unique constraints below make "one task per reason per
    # source" a database fact, so concurrent sweeps or redelivered messages cannot duplicate.
    window = models.ForeignKey(ReportingWindow, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks")
    checkin_id = models.BigIntegerField(null=True, blank=True)
    consent_record = models.ForeignKey(
        ConsentRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks"
    )
    appointment = models.ForeignKey("Appointment", null=True, blank=True, on_delete=models.PROTECT, related_name="tasks")
    priority = models.PositiveSmallIntegerField(choices=TaskPriority.choices, default=TaskPriority.NORMAL)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    assignee = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_tasks")
    assigned_at = models.DateTimeField(null=True, blank=True)
    due_by = models.DateTimeField()
    resolution = models.CharField(max_length=32, choices=TaskResolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    # What the officer needs to decide, as handed over by whoever opened the task (figures
    # of the face comparison, the GPS fix and its distance to the area, ...).
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "created_at"]
        verbose_name = _("investigation task")
        verbose_name_plural = _("investigation tasks")
        constraints = [
            models.UniqueConstraint(
                fields=["reason", "window"], condition=Q(window__isnull=False), name="task_one_per_reason_window"
            ),
            models.UniqueConstraint(
                fields=["reason", "checkin_id"], condition=Q(checkin_id__isnull=False), name="task_one_per_reason_checkin"
            ),
            models.UniqueConstraint(
                fields=["reason", "consent_record"],
                condition=Q(consent_record__isnull=False),
                name="task_one_per_reason_consent",
            ),
            models.UniqueConstraint(
                fields=["reason", "appointment"], condition=Q(appointment__isnull=False), name="task_one_per_reason_appointment"
            ),
            # One open task per problem: a later event of the same kind for the same person is
            # added to the open task as a note (services.task_open), not a task of its own.
            models.UniqueConstraint(
                fields=["client", "reason"],
                condition=Q(status__in=["open", "in_progress"]),
                name="task_one_open_per_client_reason",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="resolved", resolved_at__isnull=False) & ~Q(resolution="")
                    | ~Q(status="resolved") & Q(resolution="", resolved_at__isnull=True)
                ),
                name="task_resolution_iff_resolved",
            ),
            models.CheckConstraint(
                condition=(
                    Q(window__isnull=False) | Q(checkin_id__isnull=False) | Q(consent_record__isnull=False)
                    | Q(appointment__isnull=False)
                ),
                name="task_has_source",
            ),
        ]
        indexes = [
            # The triage queue: unresolved tasks by priority then age.
            models.Index(
                fields=["-priority", "created_at"], condition=~Q(status="resolved"), name="task_queue_idx"
            ),
            # An officer's queue: their region's unresolved tasks in queue order (pages deep in
            # the queue are an index walk), and its counts per reason (an index-only scan).
            models.Index(
                fields=["region", "-priority", "created_at", "id"], condition=~Q(status="resolved"),
                name="task_region_queue_idx",
            ),
            models.Index(fields=["region", "reason"], condition=~Q(status="resolved"), name="task_region_reason_idx"),
            models.Index(fields=["client", "-created_at"], name="task_client_idx"),
            models.Index(fields=["assignee", "status"], name="task_assignee_idx"),
        ]
        permissions = [
            ("reassign_task", "Can reassign tasks to other officers"),
            ("view_biometrics", "Can view selfies and reference photos"),
        ]

    def __str__(self):
        return f"{self.get_reason_display()} — {self.client_id}"

    # Django's own get_FOO_display makes a hashable copy of every choice on each call, which
    # translates every label: 50 rows of the queue paid for 2,000 translations. The enum's
    # label is the same lazy text, found by value.
    def get_reason_display(self):
        return _choice_label(TaskReason, self.reason)

    def get_priority_display(self):
        return _choice_label(TaskPriority, self.priority)


def _choice_label(choices, value):
    try:
        return choices(value).label
    except ValueError:
        return value


class TaskNote(models.Model):
    """Information added to a task after it opened: an officer's note, a late check-in."""

    class Kind(models.TextChoices):
        NOTE = "note", _("Note")
        LATE_CHECKIN = "late_checkin", _("Late check-in")
        SYSTEM = "system", _("System")
        # A later event of the task's kind for the same person (another missed window, another
        # check-in that needs review): its source is on the note, and the task's decision
        # settles it too.
        EVENT = "event", _("Further event")
        # The person's own words, from a message explaining or contesting (enforcement.messages).
        PERSON = "person", _("The person's words")
        # An officer's attempt to reach the person (how: data["channel"], a ContactMethod; what
        # came of it: the text), logged without closing the task.
        CONTACT = "contact", _("Contact attempt")

    class ContactMethod(models.TextChoices):
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("Email")
        IN_PERSON = "in_person", _("In person")
        OTHER = "other", _("Other")

    task = models.ForeignKey(InvestigationTask, on_delete=models.CASCADE, related_name="notes")
    checkin_id = models.BigIntegerField(null=True, blank=True)
    window = models.ForeignKey(ReportingWindow, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    consent_record = models.ForeignKey(ConsentRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey("Appointment", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NOTE)
    author = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("task note")
        verbose_name_plural = _("task notes")
        # An event is added once, however often the sweep or a redelivered message sees it.
        constraints = [
            models.UniqueConstraint(fields=["task", "checkin_id"], condition=Q(kind="event", checkin_id__isnull=False), name="tasknote_one_event_per_checkin"),
            models.UniqueConstraint(fields=["task", "window"], condition=Q(kind="event", window__isnull=False), name="tasknote_one_event_per_window"),
            models.UniqueConstraint(
                fields=["task", "consent_record"], condition=Q(kind="event", consent_record__isnull=False), name="tasknote_one_event_per_consent"
            ),
            models.UniqueConstraint(
                fields=["task", "appointment"], condition=Q(kind="event", appointment__isnull=False), name="tasknote_one_event_per_appointment"
            ),
        ]
        indexes = [models.Index(fields=["checkin_id"], condition=Q(checkin_id__isnull=False), name="tasknote_checkin_idx")]

    @property
    def contact_method_label(self) -> str:
        """How a contact attempt was made, in words ("" for other kinds of note)."""
        method = (self.data or {}).get("channel", "") if self.kind == self.Kind.CONTACT else ""
        return self.ContactMethod(method).label if method in self.ContactMethod.values else ""


class EscalationKind(models.TextChoices):
    WARRANT_RECOMMENDATION = "warrant_recommendation", _("Recommend an arrest warrant")
    CONDITION_CHANGE = "condition_change", _("Recommend stricter conditions")
    CASE_REVIEW = "case_review", _("Refer for case review")


class EscalationStatus(models.TextChoices):
    PROPOSED = "proposed", _("Awaiting supervisor sign-off")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


ESCALATION_STATUS_TRANSITIONS = {
    EscalationStatus.PROPOSED: frozenset({EscalationStatus.APPROVED, EscalationStatus.REJECTED}),
    EscalationStatus.APPROVED: frozenset(),
    EscalationStatus.REJECTED: frozenset(),
}


class Escalation(models.Model):
    """An adverse step proposed by one person and signed off by a different supervisor."""

    task = models.ForeignKey(InvestigationTask, on_delete=models.PROTECT, related_name="escalations")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="escalations")
    kind = models.CharField(max_length=32, choices=EscalationKind.choices)
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=EscalationStatus.choices, default=EscalationStatus.PROPOSED)
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at"]
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        constraints = [
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("proposed_by")),
                name="escalation_four_eyes",
            ),
            models.UniqueConstraint(
                fields=["task"], condition=Q(status="proposed"), name="escalation_one_pending_per_task"
            ),
        ]
        permissions = [("approve_escalation", "Can sign off escalations proposed by others")]


class SamePerson(models.TextChoices):
    YES = "yes", _("Yes, the same person")
    NO = "no", _("No, not the same person")
    CANT_TELL = "cant_tell", _("I can't tell")


class BlindAnswer(models.Model):
    """An officer's answer to "same person?" from the photos alone, given before the face
    comparison's figures are shown (settings.REPORTIN_BLIND_REVIEW_REASONS). The accountability
    report compares it with the matcher's decision and with the officer's final decision."""

    task = models.ForeignKey(InvestigationTask, on_delete=models.PROTECT, related_name="blind_answers")
    officer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    answer = models.CharField(_("same person?"), max_length=16, choices=SamePerson.choices)
    answered_at = models.DateTimeField()

    class Meta:
        verbose_name = _("blind answer")
        verbose_name_plural = _("blind answers")
        constraints = [
            # A first look is given once: a second answer would be given after seeing the score.
            models.UniqueConstraint(fields=["task", "officer"], name="blindanswer_one_per_task_officer"),
        ]


# --- Notifications --------------------------------------------------------------------------


class NotificationKind(models.TextChoices):
    WINDOW_OPENED = "window_opened", _("Reporting window opened")
    WINDOW_CLOSING = "window_closing", _("Reporting window closing soon")
    APPOINTMENT_REMINDER = "appointment_reminder", _("Appointment reminder")


class NotifyChannel(models.TextChoices):
    """How a message reaches the person (enforcement.channels has one class per value)."""

    EMAIL = "email", _("Email")
    SMS = "sms", _("Text message (SMS)")
    PUSH = "push", _("App notification (web push)")


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("Queued")
    # Claimed by a sender; a row left here by a dead sender is taken again after a lease.
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


NOTIFICATION_STATUS_TRANSITIONS = {
    NotificationStatus.PENDING: frozenset(
        {NotificationStatus.SENDING, NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.CANCELLED}
    ),
    # sending -> pending: a provider error worth retrying later.
    NotificationStatus.SENDING: frozenset(
        {NotificationStatus.PENDING, NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.CANCELLED}
    ),
    NotificationStatus.FAILED: frozenset({NotificationStatus.PENDING}),
    # The provider's later receipt: handed to the phone, or refused by the network.
    NotificationStatus.SENT: frozenset({NotificationStatus.DELIVERED, NotificationStatus.FAILED}),
    NotificationStatus.DELIVERED: frozenset(),
    NotificationStatus.CANCELLED: frozenset(),
}


class Office(models.Model):
    """A CBSA office where people of a region report in person; shown to them in the app."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="offices", verbose_name=_("region"))
    name = models.CharField(_("name"), max_length=120)
    name_fr = models.CharField(_("French name"), max_length=120)
    address = models.TextField(_("address"), max_length=500)
    hours = models.CharField(_("opening hours"), max_length=200, help_text=_("E.g. Monday to Friday, 8:30 to 16:00."))
    hours_fr = models.CharField(_("opening hours (French)"), max_length=200)
    phone = models.CharField(_("phone"), max_length=32)
    languages = models.CharField(_("languages spoken"), max_length=200, blank=True, help_text=_("E.g. English, French, Spanish."))
    # Where the office is: the preset centre of a permitted reporting area (the condition form).
    latitude = models.FloatField(
        _("latitude"), null=True, blank=True, validators=[MinValueValidator(-90), MaxValueValidator(90)],
        help_text=_("Decimal degrees, e.g. 43.6453. Offices with coordinates are offered as the centre of a permitted area."),
    )
    longitude = models.FloatField(
        _("longitude"), null=True, blank=True, validators=[MinValueValidator(-180), MaxValueValidator(180)],
        help_text=_("Decimal degrees, e.g. -79.3806 (west is negative)."),
    )
    # The office a person of the region is sent to in person (several offices: the first by name).
    main = models.BooleanField(_("the region's main office"), default=False)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["region", "-main", "name"]
        verbose_name = _("office")
        verbose_name_plural = _("offices")

    def __str__(self):
        return self.name


class AppointmentKind(models.TextChoices):
    INTERVIEW = "interview", _("Interview")
    HEARING = "hearing", _("Hearing")
    REMOVAL_MEETING = "removal_meeting", _("Removal-related meeting")
    IN_PERSON_REPORT = "in_person_report", _("In-person report")


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    ATTENDED = "attended", _("Attended")
    # "appointment" context: the French agrees with "rendez-vous" (masculine), not a window.
    MISSED = "missed", pgettext_lazy("appointment", "Missed")
    # Moved to another time: the new time is an appointment of its own (rescheduled_to).
    RESCHEDULED = "rescheduled", _("Rescheduled")
    CANCELLED = "cancelled", pgettext_lazy("appointment", "Cancelled")


APPOINTMENT_STATUS_TRANSITIONS = {
    AppointmentStatus.SCHEDULED: frozenset(
        {AppointmentStatus.ATTENDED, AppointmentStatus.MISSED, AppointmentStatus.RESCHEDULED, AppointmentStatus.CANCELLED}
    ),
    # A missed appointment may be given a new time; the miss stays on the record.
    AppointmentStatus.MISSED: frozenset({AppointmentStatus.RESCHEDULED}),
    AppointmentStatus.ATTENDED: frozenset(),
    AppointmentStatus.RESCHEDULED: frozenset(),
    AppointmentStatus.CANCELLED: frozenset(),
}


class Appointment(models.Model):
    """An interview, hearing, removal-related meeting or in-person report the person must
    attend (issue 18.5). Written by enforcement.appointments only; the officer records what
    happened. An in-person report is recorded the same way, attended, so that the person's
    history shows they complied."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="appointments")
    kind = models.CharField(_("kind"), max_length=24, choices=AppointmentKind.choices)
    office = models.ForeignKey(Office, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("office"))
    place = models.CharField(_("place"), max_length=300, blank=True, help_text=_("Where, when it is not one of the region's offices."))
    starts_at = models.DateTimeField(_("starts at"))
    bring = models.TextField(_("what to bring"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.SCHEDULED)
    # Why it was missed, moved or cancelled, or the officer's note on attendance.
    reason = models.TextField(_("reason"), max_length=1000, blank=True)
    rescheduled_to = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="rescheduled_from")
    scheduled_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        constraints = [
            models.CheckConstraint(condition=Q(office__isnull=False) | ~Q(place=""), name="appointment_has_place"),
            models.CheckConstraint(
                condition=~Q(status__in=["rescheduled", "cancelled"]) | ~Q(reason=""), name="appointment_change_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(status="scheduled") | Q(recorded_at__isnull=False), name="appointment_outcome_has_time"
            ),
        ]
        indexes = [
            # The person's upcoming and recent appointments, and the client page's list.
            models.Index(fields=["client", "starts_at"], name="appointment_client_starts_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.starts_at:%Y-%m-%d %H:%M}Z for client {self.client_id} ({self.status})"


class NoticeKind(models.TextChoices):
    MISSED_WINDOW = "missed_window", _("A reporting window was missed")
    EXTRA_CHECKIN = "extra_checkin", _("A check-in was kept but counts for no window")
    CHECKIN_REVIEW = "checkin_review", _("A check-in needs an officer's look")
    REVIEW_OUTCOME = "review_outcome", _("An officer decided on a check-in")
    REMOTE_OFF = "remote_off", _("Remote reporting is off")
    MESSAGE = "message", _("A message from an officer")
    CHECKIN_REQUESTED = "checkin_requested", _("An officer asks for a check-in now")
    APPOINTMENT = "appointment", _("An appointment was set, moved or cancelled")
    CONTEST_OUTCOME = "contest_outcome", _("An officer decided on the person's contest of a check-in's outcome")


class Notice(models.Model):
    """Something the person must be told: shown on the app's home screen until read, and sent
    on their channels (a Notification per channel). What it says is written from `kind` and
    `details` in the reader's language (enforcement.notifications.notice_text); `details`
    never holds a score or a threshold."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=32, choices=NoticeKind.choices)
    window = models.ForeignKey(ReportingWindow, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False)
    checkin_id = models.BigIntegerField(null=True, blank=True)
    # An appointment set, moved or cancelled (read with the notice: senders make no query of their own).
    appointment = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        constraints = [
            # One notice per event, whatever path reports it twice.
            models.UniqueConstraint(fields=["window", "kind"], condition=Q(window__isnull=False), name="notice_one_per_window_kind"),
            models.UniqueConstraint(fields=["checkin_id", "kind"], condition=Q(checkin_id__isnull=False), name="notice_one_per_checkin_kind"),
        ]
        indexes = [
            # The home screen: the person's unread notices.
            models.Index(fields=["client", "-created_at"], condition=Q(read_at__isnull=True), name="notice_unread_idx"),
        ]


class Notification(models.Model):
    """Outbox of messages to a person, one row per channel; a sender delivers what is due.
    A reminder points at its window; a notice's message at its notice."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="notifications")
    # Indexed by the unique (window, kind, channel) constraint below.
    window = models.ForeignKey(
        ReportingWindow, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    notice = models.ForeignKey(Notice, null=True, blank=True, on_delete=models.CASCADE, related_name="messages", db_index=False)
    # An appointment's reminders (7 days, 1 day and 2 hours before), indexed by the unique constraint below.
    appointment = models.ForeignKey(
        "Appointment", null=True, blank=True, on_delete=models.CASCADE, related_name="reminders", db_index=False
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices + NoticeKind.choices)
    channel = models.CharField(max_length=8, choices=NotifyChannel.choices, default=NotifyChannel.EMAIL)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    send_after = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The provider's id of the message (GC Notify's notification id, the push service's location).
    provider_reference = models.CharField(max_length=200, blank=True)
    # Empty once sent; otherwise why not (the provider's own reason where it gave one).
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["send_after"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["window", "kind", "channel"], condition=Q(window__isnull=False), name="notification_one_per_window_kind_channel"
            ),
            models.UniqueConstraint(fields=["notice", "channel"], condition=Q(notice__isnull=False), name="notification_one_per_notice_channel"),
            models.UniqueConstraint(
                fields=["appointment", "send_after", "channel"], condition=Q(appointment__isnull=False),
                name="notification_one_per_appointment_time_channel",
            ),
        ]
        indexes = [
            # The sender: pending notifications that are due, in the claim's order (send_after, id).
            # With the id in the key the claim reads its chunk off the index; without it, every
            # claim sorted all the due rows (a morning's reminders share one send_after): 350 ms
            # of PostgreSQL per chunk of 500 at 500,000 due.
            models.Index(fields=["send_after", "id"], condition=Q(status="pending"), name="notification_due_order_idx"),
            # The lease sweep: claimed rows whose sender died (notifications_dispatch), oldest
            # claim first; a chunk's rows share one claimed_at, hence the id.
            models.Index(fields=["claimed_at", "id"], condition=Q(status="sending"), name="notification_sending_order_idx"),
            # The provider's delivery receipts (notification_receipt): a sent message by its reference.
            models.Index(fields=["provider_reference"], condition=Q(status="sent"), name="notification_receipt_idx"),
        ]


class ContactChannel(models.Model):
    """A channel the person chose for reminders and notices, with the consent they gave to it:
    the exact words shown, in which language, through which channel. Choosing again ends the
    earlier row (`ended_at`) instead of overwriting it, so the history stays."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="contact_channels")
    channel = models.CharField(max_length=8, choices=NotifyChannel.choices)
    # Where to: a phone number (E.164) for SMS; empty for email (the client's address) and push.
    address = models.CharField(max_length=32, blank=True)
    # A Web Push subscription (endpoint and the browser's keys), for push.
    push_endpoint = models.URLField(max_length=1000, blank=True)
    push_p256dh = models.CharField(max_length=200, blank=True)
    push_auth = models.CharField(max_length=64, blank=True)
    consent_text = models.TextField()
    consent_language = models.CharField(max_length=2, choices=Language.choices)
    recorded_via = models.CharField(max_length=16, choices=Channel.choices)
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    chosen_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["client", "channel", "-chosen_at"]
        verbose_name = _("contact channel")
        verbose_name_plural = _("contact channels")
        constraints = [
            models.UniqueConstraint(fields=["client", "channel"], condition=Q(ended_at__isnull=True), name="contact_channel_one_current"),
        ]

    def __str__(self):
        return f"{self.client}: {self.get_channel_display()}"


# --- Messages -------------------------------------------------------------------------------


class MessageDirection(models.TextChoices):
    TO_OFFICER = "to_officer", _("From the person")
    TO_PERSON = "to_person", _("From an officer")


class AttachmentKind(models.TextChoices):
    PHOTO = "photo", _("Photo")
    PDF = "pdf", _("PDF document")


def message_attachment_path(instance, filename):
    import uuid

    return f"messages/{uuid.uuid4().hex}.bin"


class Message(models.Model):
    """A message between the person and the officers of their case (issue 18.4). Written once
    by enforcement.messages; afterwards only its read mark changes. The body is never copied
    into the audit trail or a notification (the notice says that a message is waiting). The
    attachment is a clean copy (a photo as an upright JPEG without metadata, or a checked PDF),
    encrypted at rest and sealed to this row like a selfie."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="messages")
    direction = models.CharField(max_length=16, choices=MessageDirection.choices)
    body = models.TextField(max_length=2000)
    attachment = RecordBoundFileField(upload_to=message_attachment_path, max_length=200, blank=True)
    attachment_kind = models.CharField(max_length=8, choices=AttachmentKind.choices, blank=True)
    attachment_size = models.PositiveIntegerField(null=True, blank=True)
    # What a person's message answers: the notice it came from, the missed window or the
    # check-in (reportin.CheckIn, by id) it is about; and the task it opened or went to.
    notice = models.ForeignKey(Notice, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    window = models.ForeignKey(ReportingWindow, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    checkin_id = models.BigIntegerField(null=True, blank=True)
    task = models.ForeignKey(InvestigationTask, null=True, blank=True, on_delete=models.PROTECT, related_name="messages")
    # An officer's message names the officer; a person's, the device it came from.
    author = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    device_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            # The person's list (newest first, paged by id) and the officers' list on a task page.
            models.Index(fields=["client", "-id"], name="message_client_idx"),
            # Unread counts, per client and direction.
            models.Index(fields=["client", "direction"], condition=Q(read_at__isnull=True), name="message_unread_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(direction="to_person", author__isnull=False) | Q(direction="to_officer", author__isnull=True),
                name="message_officer_author_iff_to_person",
            ),
            models.CheckConstraint(
                condition=Q(attachment="", attachment_kind="") | (~Q(attachment="") & ~Q(attachment_kind="")),
                name="message_attachment_has_kind",
            ),
        ]

    def __str__(self):
        return f"Message {self.pk} ({self.direction}) for client {self.client_id}"


# --- Accountability -------------------------------------------------------------------------


class AuditEvent(models.Model):
    """Append-only and tamper-evident: each row carries the hash of the previous one
    (enforcement.audit computes and verifies the chain). Written by services only."""

    seq = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=150, help_text=_("Who acted, as text: a username, “system”, “client 12345678”."))
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["occurred_at"]),
            models.Index(fields=["client", "occurred_at"]),
            models.Index(fields=["action", "occurred_at"]),
        ]

    def __str__(self):
        return f"#{self.seq} {self.action} by {self.actor_label}"


class AuditVerification(models.Model):
    """The outcome of one run of `audit_verify` (the chain against its published heads), shown
    on the auditors' dashboard."""

    checked_at = models.DateTimeField()
    ok = models.BooleanField()
    events_checked = models.PositiveBigIntegerField()
    heads_compared = models.PositiveIntegerField(default=0)
    last_seq = models.PositiveBigIntegerField(default=0)
    broken_seq = models.PositiveBigIntegerField(null=True, blank=True)
    problem = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        verbose_name = _("audit trail verification")
        verbose_name_plural = _("audit trail verifications")


class BiometricKind(models.TextChoices):
    REFERENCE_PHOTO = "reference_photo", _("Reference photo")
    SELFIE = "selfie", _("Check-in selfie")
    LIVENESS_FRAME = "liveness_frame", _("Liveness challenge frame")


class AccessRecord(models.Model):
    """Append-only: who looked at which biometric image, when, and from which task."""

    viewer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    object_type = models.CharField(max_length=32, choices=BiometricKind.choices)
    object_id = models.BigIntegerField()
    task = models.ForeignKey(InvestigationTask, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    viewed_at = models.DateTimeField()

    class Meta:
        ordering = ["-viewed_at", "-id"]
        verbose_name = _("biometric access record")
        verbose_name_plural = _("biometric access records")
        indexes = [
            models.Index(fields=["viewed_at"]),
            models.Index(fields=["client", "viewed_at"]),
        ]


class Decision(InvestigationTask):
    """The decision log: investigation tasks as officers decided them (resolution, note, who
    and when) with their escalations (proposed by one person, signed off by another). A
    read-only view for auditors; the rows are the tasks themselves."""

    class Meta:
        proxy = True
        verbose_name = _("decision")
        verbose_name_plural = _("decision log")


class ExportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Being written")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


EXPORT_STATUS_TRANSITIONS = {
    ExportStatus.PENDING: frozenset({ExportStatus.RUNNING, ExportStatus.FAILED}),
    # running -> running: the next step, or a worker taking over a dead one's lease.
    ExportStatus.RUNNING: frozenset({ExportStatus.RUNNING, ExportStatus.DONE, ExportStatus.FAILED}),
    ExportStatus.DONE: frozenset(),
    ExportStatus.FAILED: frozenset(),
}


def export_path(instance, filename):
    import uuid

    return f"exports/{uuid.uuid4().hex}.csv"


class ExportJob(models.Model):
    """A CSV export of a filtered audit list too large to stream at once, written by a worker.
    The file holds personal data: it is encrypted at rest and only its requester downloads it."""

    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    model_label = models.CharField(max_length=64, help_text=_("The list exported, e.g. reportin.facematch."))
    query = models.CharField(max_length=2000, blank=True, help_text=_("The list's filters, as in its address."))
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    file = RecordBoundFileField(upload_to=export_path, max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Resumable writing (backoffice.exports.export_step): the highest id when the export
    # started, the last id written, the parts written so far, the steps (tasks) that worked
    # on it, and until when the worker writing it holds it.
    upper_pk = models.BigIntegerField(null=True, blank=True)
    cursor = models.BigIntegerField(null=True, blank=True)
    parts = models.PositiveIntegerField(default=0)
    steps = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("export")
        verbose_name_plural = _("exports")

    def __str__(self):
        return f"Export {self.pk} of {self.model_label} ({self.status})"

    @property
    def percent(self) -> int:
        return 100 if self.status == ExportStatus.DONE else int(100 * self.done / self.total) if self.total else 0
