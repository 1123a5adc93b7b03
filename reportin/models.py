"""The mobile side: devices, check-ins and their face-comparison results."""

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from enforcement.models import Client, ReferencePhoto, ReportingWindow, User
from enforcement.storage import RecordBoundFileField


class BlockRangeIndex(models.Index):
    """A BRIN index on PostgreSQL (a summary per range of table blocks: tiny, and fast for a
    column that grows with the table, such as a time of arrival); a B-tree elsewhere."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            using = " USING brin"
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class Platform(models.TextChoices):
    IOS = "ios", "iOS"
    ANDROID = "android", "Android"
    WEB = "web", _("Web app")


class Device(models.Model):
    """A phone activated for one client. The token is shown once and stored as a hash."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(max_length=100)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    # The first characters of the token, to tell devices apart in admin without the secret.
    token_prefix = models.CharField(max_length=8)
    activation_code = models.ForeignKey(
        "enforcement.ActivationCode", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The person removed the app from the phone themselves (DELETE /api/v1/device): officers
    # must not read a revocation without a staff member as a lost or confiscated phone.
    removed_by_person = models.BooleanField(_("removed by the person"), default=False)

    class Meta:
        ordering = ["-activated_at"]
        verbose_name = _("device")
        verbose_name_plural = _("devices")

    def __str__(self):
        return f"{self.name} ({self.get_platform_display()}, {self.token_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def state(self) -> str:
        if self.revoked_at is None:
            return str(_("Active"))
        return str(_("Removed by the person") if self.removed_by_person else _("Revoked by an officer"))


class CheckInStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    SCORING = "scoring", _("Being checked")
    VERIFIED = "verified", _("Verified")
    NEEDS_REVIEW = "needs_review", _("An officer will review it")
    REJECTED = "rejected", _("Rejected")
    # An officer dealt with it without accepting or refusing it (contact made, excused, escalated).
    REVIEWED = "reviewed", _("Reviewed by an officer")


CHECKIN_STATUS_TRANSITIONS = {
    CheckInStatus.RECEIVED: frozenset({CheckInStatus.SCORING, CheckInStatus.NEEDS_REVIEW}),
    # scoring -> scoring: a redelivered or re-enqueued message takes the check-in again.
    CheckInStatus.SCORING: frozenset({CheckInStatus.SCORING, CheckInStatus.VERIFIED, CheckInStatus.NEEDS_REVIEW}),
    # An officer decides (reportin.services.SETTLEMENTS): accepted, refused, or dealt with.
    CheckInStatus.NEEDS_REVIEW: frozenset({CheckInStatus.VERIFIED, CheckInStatus.REJECTED, CheckInStatus.REVIEWED}),
    CheckInStatus.VERIFIED: frozenset(),
    # Final, but for the person's contest upheld by an officer (reportin.services.checkin_contest_decide):
    # settled again by that decision, never towards a worse outcome.
    CheckInStatus.REJECTED: frozenset({CheckInStatus.VERIFIED, CheckInStatus.REVIEWED}),
    CheckInStatus.REVIEWED: frozenset({CheckInStatus.VERIFIED}),
}


class LocationResult(models.TextChoices):
    NOT_CHECKED = "not_checked", _("No permitted area set")
    INSIDE = "inside", _("Inside the permitted area")
    OUTSIDE = "outside", _("Outside the permitted area")
    INCONCLUSIVE = "inconclusive", _("Too inaccurate to tell")


def selfie_path(instance, filename):
    # Random names: a file name must not reveal whose selfie it is.
    return f"selfies/{uuid.uuid4().hex}.img"


class CaptureMode(models.TextChoices):
    CHALLENGE = "challenge", _("Liveness challenge (head turns)")
    SINGLE_SELFIE = "single_selfie", _("Single selfie")


class CheckIn(models.Model):
    """One report from the phone. Stored before anything else happens; scored afterwards."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="checkins")
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="checkins")
    window = models.ForeignKey(
        ReportingWindow, null=True, blank=True, on_delete=models.PROTECT, related_name="checkins",
        help_text=_("Empty for an unscheduled report."),
    )
    # The selfie as stored: orientation applied, all metadata removed, encrypted at rest.
    selfie = RecordBoundFileField(upload_to=selfie_path, max_length=200, blank=True)
    selfie_sha256 = models.CharField(max_length=64, blank=True)
    selfie_phash = models.CharField(max_length=16, blank=True)
    selfie_format = models.CharField(max_length=8, blank=True, help_text=_("Format as uploaded: jpeg, png, heif."))
    selfie_width = models.PositiveIntegerField(null=True, blank=True)
    selfie_height = models.PositiveIntegerField(null=True, blank=True)
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    accuracy_m = models.FloatField(validators=[MinValueValidator(0)])
    captured_at = models.DateTimeField(help_text=_("Device clock."))
    received_at = models.DateTimeField(help_text=_("Server clock."))
    idempotency_key = models.CharField(max_length=128)
    # sha256 of the request's content, to tell a retry (same body) from a reused key (409).
    request_fingerprint = models.CharField(max_length=64)
    reported_address = models.TextField(blank=True)
    reported_employment = models.CharField(max_length=300, blank=True)
    reported_family_status = models.CharField(max_length=300, blank=True)
    # How the person was captured: a liveness challenge (frames in liveness_frames), or one
    # selfie (a condition that allows it, or REPORTIN_LIVENESS_REQUIRED off).
    capture_mode = models.CharField(max_length=16, choices=CaptureMode.choices, default=CaptureMode.SINGLE_SELFIE)
    status = models.CharField(max_length=16, choices=CheckInStatus.choices, default=CheckInStatus.RECEIVED)
    location_result = models.CharField(max_length=16, choices=LocationResult.choices, default=LocationResult.NOT_CHECKED)
    distance_to_area_km = models.FloatField(null=True, blank=True, help_text=_("From the fix to the area's edge; negative inside."))
    scoring_attempts = models.PositiveSmallIntegerField(default=0)
    scoring_started_at = models.DateTimeField(null=True, blank=True)
    # The Celery task id of the attempt holding the claim. A message given back after its worker
    # died keeps its task id, so its redelivery may take the claim over at once (that attempt
    # is dead) instead of waiting for the lease to run out.
    scoring_task_id = models.CharField(max_length=64, blank=True, default="")
    scored_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")
        constraints = [
            models.UniqueConstraint(fields=["device", "idempotency_key"], name="checkin_idempotency_per_device"),
            models.CheckConstraint(condition=Q(latitude__gte=-90, latitude__lte=90), name="checkin_latitude_range"),
            models.CheckConstraint(condition=Q(longitude__gte=-180, longitude__lte=180), name="checkin_longitude_range"),
            models.CheckConstraint(condition=Q(accuracy_m__gt=0), name="checkin_accuracy_positive"),
        ]
        indexes = [
            models.Index(fields=["client", "-received_at"], name="checkin_client_idx"),
            # A day's check-ins for the figures' rollup: check-ins arrive in time order, so a
            # block-range index is a few pages per month and finds a day without a table scan.
            BlockRangeIndex(fields=["received_at"], name="checkin_received_brin"),
            # The reconciler: check-ins not yet judged.
            models.Index(
                fields=["received_at"], condition=Q(status__in=["received", "scoring"]), name="checkin_unscored_idx"
            ),
        ]

    def __str__(self):
        return f"Check-in {self.pk} of client {self.client_id} ({self.status})"


class FaceDecision(models.TextChoices):
    MATCH = "match", _("Match")
    NON_MATCH = "non_match", _("Not a match")
    NO_FACE = "no_face", _("No face found")
    MULTIPLE_FACES = "multiple_faces", _("Several comparable faces")
    LOW_QUALITY = "low_quality", _("Quality too low to compare")
    UNREADABLE = "unreadable", _("Image unreadable")


class FaceMatch(models.Model):
    """The face comparison of one check-in, with every figure that led to the decision.
    Exactly one per check-in (a database fact), and append-only."""

    checkin = models.OneToOneField(CheckIn, on_delete=models.PROTECT, related_name="face_match")
    decision = models.CharField(max_length=16, choices=FaceDecision.choices)
    best_distance = models.FloatField(null=True, blank=True)
    similarity = models.FloatField(null=True, blank=True, help_text=_("1 - distance / (2 × threshold), clipped to 0..1"))
    threshold = models.FloatField()
    reference_photo = models.ForeignKey(ReferencePhoto, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    distances = models.JSONField(default=dict, blank=True, help_text=_("Distance to each reference photo, by id."))
    faces_found = models.PositiveSmallIntegerField(default=0)
    face_box = models.JSONField(null=True, blank=True)
    quality = models.JSONField(default=dict, blank=True)
    replay = models.JSONField(default=dict, blank=True, help_text=_("Near-identical earlier image, if any."))
    detail = models.JSONField(default=dict, blank=True, help_text=_("Anything else the pipeline recorded."))
    liveness = models.JSONField(
        default=dict, blank=True,
        help_text=_("The liveness challenge's figures: poses asked, yaw, distance and hash of each frame, and the verdict."),
    )
    model_version = models.CharField(max_length=64)
    pipeline_version = models.CharField(max_length=32)
    duration_ms = models.FloatField()
    attempts = models.PositiveSmallIntegerField(default=1)
    scored_at = models.DateTimeField()

    class Meta:
        ordering = ["-scored_at"]
        verbose_name = _("face match")
        verbose_name_plural = _("face matches")
        indexes = [models.Index(fields=["scored_at"]), models.Index(fields=["decision", "scored_at"])]

    def __str__(self):
        return f"{self.get_decision_display()} for check-in {self.checkin_id}"


class Pose(models.TextChoices):
    """Head poses a challenge asks for. Left and right are the person's own: turning to their
    left moves the nose towards the right of an unmirrored front-camera picture."""

    FRONTAL = "frontal", _("Look straight at the camera")
    LEFT = "left", _("Turn your head to your left")
    RIGHT = "right", _("Turn your head to your right")


class LivenessChallenge(models.Model):
    """A single-use liveness challenge: a random pose sequence the phone must film before
    `expires_at`. The nonce itself is shown once; only its keyed hash is kept."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="liveness_challenges")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="liveness_challenges")
    nonce_hash = models.CharField(max_length=64, unique=True)
    poses = models.JSONField(help_text=_("The pose sequence asked for, in order."))
    issued_at = models.DateTimeField()
    # The check-in request must arrive by then (reportin.services.checkin_submit).
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    checkin = models.OneToOneField(
        CheckIn, null=True, blank=True, on_delete=models.SET_NULL, related_name="liveness_challenge"
    )

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("liveness challenge")
        verbose_name_plural = _("liveness challenges")
        constraints = [
            # A used challenge names the check-in that used it, and only then.
            models.CheckConstraint(
                condition=Q(used_at__isnull=True, checkin__isnull=True) | Q(used_at__isnull=False),
                name="liveness_challenge_checkin_when_used",
            ),
        ]
        # The purge of challenges never answered reads this.
        indexes = [models.Index(fields=["expires_at"], condition=Q(used_at__isnull=True), name="challenge_unused_idx")]

    def __str__(self):
        return f"Challenge {self.pk} of client {self.client_id} ({'/'.join(self.poses)})"


def frame_path(instance, filename):
    return f"liveness/{uuid.uuid4().hex}.img"


class LivenessFrame(models.Model):
    """One frame filmed for a liveness challenge: stored like the selfie (upright, no metadata,
    encrypted at rest, no URL)."""

    checkin = models.ForeignKey(CheckIn, on_delete=models.CASCADE, related_name="liveness_frames")
    position = models.PositiveSmallIntegerField(help_text=_("0 for the first frame."))
    pose = models.CharField(max_length=8, choices=Pose.choices, help_text=_("The pose asked for at this position."))
    image = RecordBoundFileField(upload_to=frame_path, max_length=200, blank=True)
    sha256 = models.CharField(max_length=64)
    image_format = models.CharField(max_length=8)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Meta:
        ordering = ["checkin", "position"]
        verbose_name = _("liveness frame")
        verbose_name_plural = _("liveness frames")
        constraints = [models.UniqueConstraint(fields=["checkin", "position"], name="liveness_frame_position_unique")]

    def __str__(self):
        return f"Frame {self.position} ({self.pose}) of check-in {self.checkin_id}"



class FigureSource(models.TextChoices):
    CHECKIN = "checkin", _("check-ins by outcome")
    REVIEW = "review", _("resolved reviews")
    WINDOW = "window", _("settled windows")
    BLIND = "blind", _("officers' first looks")


class FigureRollup(models.Model):
    """One day's counts for the accountability figures (reportin/accountability.py), by region,
    country of citizenship, outcome and face model: derived data, rebuilt from the check-ins,
    tasks and windows whenever a day is rolled up again (nightly for the recent days, on
    demand with `manage.py figures_rollup`).

    The day is the check-in's day of receipt (UTC) for check-ins and for the reviews of their
    tasks, and the deadline's day (UTC) for windows. `outcome` is the face decision (or
    `not_scored`), `reason:resolution` for reviews, the window's status for windows, and
    `look:agree|disagree` or `decided:same|changed` for officers' first looks (issue 17.4)."""

    day = models.DateField()
    source = models.CharField(max_length=8, choices=FigureSource.choices)
    region = models.ForeignKey("enforcement.Region", null=True, on_delete=models.PROTECT, related_name="+")
    country = models.CharField(max_length=2, blank=True)
    outcome = models.CharField(max_length=80)
    model_version = models.CharField(max_length=64, blank=True)
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="figure_rollup_day_idx")]


class RollupDay(models.Model):
    """A day whose figures are in FigureRollup, and when they were counted."""

    day = models.DateField(primary_key=True)
    rolled_at = models.DateTimeField(null=True)
    checkins = models.PositiveIntegerField(default=0)
