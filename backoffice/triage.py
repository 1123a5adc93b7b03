"""What an officer sees on a task page, read in a fixed number of queries, and the figures of
a face comparison and a GPS fix said in plain words.

It lives in the back office because a task about a check-in shows the check-in, its selfie
and its face comparison (reportin's), next to the client's enforcement records.
"""

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext as _

from biometrics import faces
from enforcement import selectors as enforcement_selectors
from enforcement import times
from enforcement.models import (
    CircumstanceChange,
    InvestigationTask,
    PhotoStatus,
    RecentReferenceSource,
    ReferencePhoto,
    ReportingWindow,
)
from reportin.models import CheckIn, FaceDecision, FaceMatch, LocationResult

TIMELINE_LENGTH = 12


def _quality_words(quality: dict) -> list[str]:
    gate = faces.PROBE_GATE
    words = []
    if "face_px" in quality:
        words.append(_("face %(px)d px") % {"px": quality["face_px"]})
    if "sharpness" in quality:
        words.append(_("sharp") if quality["sharpness"] >= gate.min_sharpness else _("blurred"))
    if "brightness" in quality:
        if quality["brightness"] < gate.min_brightness:
            words.append(_("too dark"))
        elif quality["brightness"] > gate.max_brightness:
            words.append(_("overexposed"))
        else:
            words.append(_("well lit"))
    if "yaw" in quality and abs(quality["yaw"]) > gate.max_yaw:
        words.append(_("turned away"))
    return words


def face_decision_words(match: FaceMatch | None) -> str:
    """E.g. "distance 0.62 against threshold 0.54: not a match; face 180 px, sharp, well lit"."""
    if match is None:
        return _("Not compared yet.")
    if match.best_distance is not None:
        verdict = _("a match") if match.decision == FaceDecision.MATCH else _("not a match")
        head = _("distance %(distance).2f against threshold %(threshold).2f: %(verdict)s") % {
            "distance": match.best_distance, "threshold": match.threshold, "verdict": verdict,
        }
    else:
        head = str(match.get_decision_display())
        message = (match.detail or {}).get("message")
        if message:
            head = f"{head} ({message})"
    quality = _quality_words(match.quality or {})
    if match.faces_found > 1:
        quality.insert(0, _("%(n)d faces in the picture") % {"n": match.faces_found})
    return f"{head}; {', '.join(quality)}" if quality else head


def map_url(latitude: float, longitude: float) -> str:
    """The configured map site's page for this position (settings.REPORTIN_MAP_URL), or "" when
    no map site is configured: following the link tells that site where the person was."""
    template = settings.REPORTIN_MAP_URL
    if not template:
        return ""
    return template.replace("{lat}", quote(f"{latitude:.6f}")).replace("{lon}", quote(f"{longitude:.6f}"))


def map_site() -> str:
    """The host the map link leads to, for the page to say so."""
    return urlsplit(settings.REPORTIN_MAP_URL).hostname or "" if settings.REPORTIN_MAP_URL else ""


def location_words(checkin: CheckIn) -> str:
    """E.g. "accurate to 25 m; 3.2 km outside the permitted area"."""
    parts = [_("accurate to %(m)d m") % {"m": round(checkin.accuracy_m)}]
    distance = checkin.distance_to_area_km
    if checkin.location_result == LocationResult.NOT_CHECKED or distance is None:
        parts.append(_("no permitted area set"))
    elif distance > 0:
        parts.append(_("%(km).1f km outside the permitted area") % {"km": distance})
    else:
        parts.append(_("%(km).1f km inside the edge of the permitted area") % {"km": -distance})
    if checkin.location_result == LocationResult.INCONCLUSIVE:
        parts.append(_("too inaccurate to tell"))
    return "; ".join(parts)


@dataclass
class TimelineEntry:
    at: datetime  # shown in the client's zone (page.time_zone) with `|zoned`
    kind: str  # "checkin" or "window"
    text: str
    status: str
    current: bool = False


@dataclass
class TaskPage:
    task: InvestigationTask
    checkin: CheckIn | None
    match: FaceMatch | None
    decision_words: str
    location_words: str
    map_url: str
    map_site: str
    references: list[ReferencePhoto]
    timeline: list[TimelineEntry]
    consents: list
    changes: list[CircumstanceChange]
    time_zone: str
    escalations: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    references_used: list[str] = field(default_factory=list)
    # (frame, its figures) of a liveness challenge check-in, in order; the verdict's messages.
    liveness_frames: list = field(default_factory=list)
    liveness_messages: list = field(default_factory=list)


def references_used_words(match: FaceMatch | None) -> list[str]:
    """One line per reference the decision used (scoring records them in the match's detail):
    enrolment photos, and recent references (confirmed or verified selfies) with their
    origin, so that an officer sees what the selfie was compared with."""
    lines = []
    for row in ((match.detail or {}).get("references_used") or []) if match else []:
        added = row.get("added", "")[:10]
        if row.get("kind") == "recent":
            source = RecentReferenceSource(row["source"]).label if row.get("source") in RecentReferenceSource.values else row.get("source", "")
            lines.append(
                _("Recent reference %(id)s from check-in %(checkin)s (%(source)s, added %(added)s): distance %(distance).3f")
                % {"id": row["id"], "checkin": row.get("checkin_id"), "source": source, "added": added, "distance": row["distance"]}
            )
        else:
            lines.append(
                _("Enrolment photo %(id)s (enrolled %(added)s): distance %(distance).3f") % {"id": row["id"], "added": added, "distance": row["distance"]}
            )
    return lines


def consent_rows(client) -> list[tuple[str, object]]:
    """(label, state) of each consent kind, for display."""
    from enforcement.models import ConsentKind

    return [(ConsentKind(kind).label, state) for kind, state in enforcement_selectors.consent_states(client=client).items()]


def task_page(*, task: InvestigationTask) -> TaskPage:
    """Everything the task page shows. The number of queries does not depend on the size of
    the client's history (each list is one bounded query)."""
    client = task.client
    tz_name = client.local_time_zone
    tz = ZoneInfo(tz_name)
    checkin = None
    if task.checkin_id is not None:
        checkin = CheckIn.objects.select_related("window").filter(pk=task.checkin_id, client=client).first()
    match = FaceMatch.objects.filter(checkin_id=checkin.pk).first() if checkin else None
    references = list(
        ReferencePhoto.objects.filter(client=client, active=True, status=PhotoStatus.READY).order_by("created_at")[:5]
    )
    checkins = list(CheckIn.objects.filter(client=client).select_related("face_match").order_by("-received_at")[:TIMELINE_LENGTH])
    windows = list(ReportingWindow.objects.filter(client=client, opens_at__lte=task.created_at).order_by("-opens_at")[:TIMELINE_LENGTH])
    timeline = [
        TimelineEntry(
            c.received_at, "checkin",
            _("Check-in %(id)d") % {"id": c.pk}, c.get_status_display(), current=checkin is not None and c.pk == checkin.pk,
        )
        for c in checkins
    ] + [
        TimelineEntry(
            w.opens_at, "window",
            _("Window %(opens)s–%(closes)s") % {
                "opens": times.shown(w.opens_at, tz), "closes": w.closes_at.astimezone(tz).strftime("%H:%M"),
            },
            w.get_status_display(), current=task.window_id == w.pk or (checkin is not None and checkin.window_id == w.pk),
        )
        for w in windows
    ]
    timeline.sort(key=lambda entry: entry.at, reverse=True)
    # Circumstance changes since the report before this one (those it brought included).
    reported_at = checkin.received_at if checkin else task.created_at
    previous = CheckIn.objects.filter(client=client, received_at__lt=reported_at).order_by("-received_at").values_list(
        "received_at", flat=True
    ).first()
    changes = CircumstanceChange.objects.filter(client=client).select_related("recorded_by")
    if previous is not None:
        changes = changes.filter(recorded_at__gt=previous)
    return TaskPage(
        task=task,
        checkin=checkin,
        match=match,
        decision_words=face_decision_words(match) if checkin else "",
        location_words=location_words(checkin) if checkin else "",
        map_url=map_url(checkin.latitude, checkin.longitude) if checkin else "",
        map_site=map_site(),
        references=references,
        timeline=timeline[:TIMELINE_LENGTH],
        consents=consent_rows(client),
        changes=list(changes[:10]),
        time_zone=tz_name,
        escalations=list(task.escalations.select_related("proposed_by", "decided_by").order_by("-proposed_at")),
        notes=list(task.notes.select_related("author").order_by("-created_at", "-id")),
        references_used=references_used_words(match),
        **_liveness_rows(checkin, match),
    )


def _liveness_rows(checkin, match) -> dict:
    if checkin is None:
        return {}
    figures = (match.liveness if match else None) or {}
    rows = {row.get("position"): row for row in figures.get("frames", [])}
    frames = [(frame, rows.get(frame.position, {})) for frame in checkin.liveness_frames.order_by("position")]
    return {"liveness_frames": frames, "liveness_messages": figures.get("messages", [])}
