"""The v1 endpoints: one view per operation. Views validate input with a serializer, call one
service or selector, and shape the answer; errors go through reportin.api.errors."""

import re
from zoneinfo import ZoneInfo

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from enforcement import messages as enforcement_messages
from enforcement import selectors as enforcement_selectors
from enforcement import services as enforcement_services
from enforcement.errors import DomainError
from enforcement.models import WEEKDAY_NAMES, Channel, MessageDirection
from reportin import selectors, services
from reportin.api import notice_shapes as notices
from reportin.api import serializers as s
from reportin.api.auth import DeviceRequired, DeviceTokenAuthentication, RequestRateThrottle
from reportin.api.docs import AUTH_ERRORS, BODY_ERRORS, error_responses
from reportin.api.uploads import CappedJSONParser, cap_uploads
from reportin.models import CheckIn, CheckInStatus, Pose

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


class _Public(APIView):
    """No token needed (one is used if sent); limited per client address."""

    authentication_classes = [DeviceTokenAuthentication]
    permission_classes = []
    throttle_classes = [RequestRateThrottle]
    parser_classes = [CappedJSONParser]


class _Device(APIView):
    """A device token is required; limited per device and per client address."""

    authentication_classes = [DeviceTokenAuthentication]
    permission_classes = [DeviceRequired]
    throttle_classes = [RequestRateThrottle]
    parser_classes = [CappedJSONParser]


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Activation -----------------------------------------------------------------------------


class ActivateView(_Public):
    authentication_classes = []  # a token here would be a phone activating twice: ignore it

    @extend_schema(
        operation_id="activate",
        summary="Activate this phone",
        description=(
            "Exchange the single-use activation code an officer issued, with the person's UCI and date "
            "of birth, for a device token. The token is shown once. Any mismatch (wrong, expired or used "
            "code, other UCI or date of birth) gets the same `activation_failed` error. After 5 failures "
            "for a UCI or from an address, further attempts get 429 `too_many_attempts` with Retry-After, "
            "for longer after each further failure."
        ),
        request=s.ActivateInput,
        examples=[s.ACTIVATE_EXAMPLE, s.ACTIVATED_EXAMPLE],
        responses={201: s.ActivateOutput, **error_responses("Activate", ["invalid_input", "activation_failed", "too_many_attempts", "throttled", *BODY_ERRORS])},
        auth=[],
        tags=["activation"],
    )
    def post(self, request):
        data = _validated(s.ActivateInput, request.data)
        token, device = services.device_activate(**data, client_address=RequestRateThrottle().get_ident(request))
        client = device.client
        body = {"token": token, "client": s.ClientBrief(client).data}
        return Response(body, status=201)


# --- Consent --------------------------------------------------------------------------------


def _consents_out(states) -> dict:
    out = {
        kind: {
            "decision": state.record.decision if state.record else None,
            "text_version": state.record.text_version if state.record else None,
            "current_version": state.current_version,
            "recorded_at": state.record.recorded_at if state.record else None,
            "granted": state.granted,
            "renewal_needed": state.renewal_needed,
        }
        for kind, state in states.items()
    }
    out["remote_reporting_allowed"] = all(state.granted for state in states.values())
    return s.ConsentsOutput(out).data


class ConsentTextView(_Public):
    @extend_schema(
        operation_id="consent_text",
        summary="The consent text in force",
        description="The current text of one consent (`app_use` or `biometric`) in one of the app's languages (en, fr, es, pa, hi, ht, ar; by default the request's), with its version and sha256. Show it exactly as given; send its version with the decision.",
        parameters=[s.ConsentTextQuery],
        responses={
            200: OpenApiResponse(
                s.ConsentTextOutput,
                examples=[s.CONSENT_TEXT_EXAMPLE],
            ),
            **error_responses("ConsentText", ["invalid_input", "bad_request", "invalid_token", "consent_text_not_found", "throttled"]),
        },
        auth=[{"deviceToken": []}, {}],
        tags=["consent"],
    )
    def get(self, request):
        query = _validated(s.ConsentTextQuery, request.query_params)
        language = query.get("language") or request.LANGUAGE_CODE
        text = enforcement_services.consent_text_current(kind=query["kind"], language=language)
        return Response(s.ConsentTextOutput(text).data)


class ConsentsView(_Device):
    @extend_schema(
        operation_id="consent_record",
        summary="Give, refuse or withdraw a consent",
        description=(
            "Records the decision with the exact text version read (its sha256 is stored with it). Granting "
            "needs the version in force. Refusing or withdrawing either consent switches reporting to in "
            "person (never a penalty) and tells the case officer, who arranges it."
        ),
        request=s.ConsentInput,
        responses={
            201: OpenApiResponse(
                s.ConsentsOutput,
                examples=[s.CONSENTS_EXAMPLE],
            ),
            **error_responses("Consent", ["invalid_input", "unknown_text_version", "text_version_outdated", "throttled", *AUTH_ERRORS, *BODY_ERRORS]),
        },
        examples=[s.CONSENT_EXAMPLE],
        tags=["consent"],
    )
    def post(self, request):
        data = _validated(s.ConsentInput, request.data)
        device = request.auth
        enforcement_services.consent_record(client=device.client, channel=Channel.APP, device_id=device.pk, **data)
        return Response(_consents_out(enforcement_selectors.consent_states(client=device.client)), status=201)


# --- Me -------------------------------------------------------------------------------------


def _pending_action_messages() -> dict[str, str]:
    return {
        "give_consent": _("To report in the app, give both consents. Otherwise you report in person."),
        "renew_consent": _("A consent text has changed. Read it again and give your answer."),
        "report_in_person": _("Report in person at your CBSA office as your conditions say."),
        "check_in_now": _("Your reporting window is open: check in now."),
    }


def utc_offset(zone: str, at) -> str:
    """"-07:00": the offset from the server's pinned zone data, for phones whose own is older."""
    offset = at.astimezone(ZoneInfo(zone)).strftime("%z")
    return f"{offset[:3]}:{offset[3:]}"


def _condition_out(condition) -> dict | None:
    if condition is None:
        return None
    return {
        "method": condition.method,
        "schedule": condition.schedule,
        "weekdays": [WEEKDAY_NAMES[day] for day in condition.weekday_list],
        "interval_days": condition.interval_days,
        "day_of_month": condition.day_of_month,
        "window_start": condition.window_start.strftime("%H:%M"),
        "window_minutes": condition.window_minutes,
        "grace_minutes": condition.grace_minutes,
        "starts_on": condition.starts_on,
        "ends_on": condition.ends_on,
        "permitted_area": (
            {"latitude": condition.area_latitude, "longitude": condition.area_longitude, "radius_km": condition.area_radius_km}
            if condition.has_area else None
        ),
        "single_selfie_allowed": condition.single_selfie_allowed,
    }




def _officer_public(officer) -> dict | None:
    """The case officer as the person may see them: the name only (their contact is the office's)."""
    if officer is None:
        return None
    return {"name": officer.get_full_name() or officer.get_username()}


class MeView(_Device):
    @extend_schema(
        operation_id="me",
        summary="Profile, consent, condition, windows and what to do next",
        description=(
            "Windows are given in UTC and in the client's local time (the region's zone, or the client's "
            "own zone when an officer set one). `pending_actions` lists what the person should do now: "
            "`give_consent`, `renew_consent` (a consent text changed), `report_in_person`, `check_in_now`."
        ),
        responses={
            200: OpenApiResponse(
                s.MeOutput,
                examples=[s.ME_EXAMPLE],
            ),
            **error_responses("Me", ["throttled", *AUTH_ERRORS]),
        },
        tags=["profile"],
    )
    def get(self, request):
        client = request.auth.client
        now = timezone.now()
        overview = selectors.client_overview(client=client, now=now)
        zone = client.local_time_zone
        messages = _pending_action_messages()
        body = {
            "profile": {
                "uci": client.uci,
                "given_name": client.given_name,
                "family_name": client.family_name,
                "date_of_birth": client.date_of_birth,
                "preferred_language": client.preferred_language,
                "region": {"code": client.region.code, "name": client.region.name_fr if request.LANGUAGE_CODE == "fr" else client.region.name},
                "time_zone": zone,
                "utc_offset": utc_offset(zone, now),
                "address": client.address,
                "employment": client.employment,
                "family_status": client.family_status,
            },
            "consents": _consents_out(overview.consents),
            "condition": _condition_out(overview.condition),
            "current_window": s.WindowOutput.of(overview.current_window, zone),
            "next_window": s.WindowOutput.of(overview.next_window, zone),
            "pending_actions": [{"code": code, "message": messages[code]} for code in overview.pending_actions],
            "pending_notices": notices.unread_notices(client, request.LANGUAGE_CODE),
            "office": enforcement_selectors.office_public(enforcement_selectors.office_for(client=client), request.LANGUAGE_CODE),
            "case_officer": _officer_public(client.case_officer),
            "recent_missed_windows": [
                s.WindowOutput.of(window, zone) for window in enforcement_selectors.missed_windows_recent(client=client, now=timezone.now())
            ],
            "liveness_required": services.liveness_required(client),
            "unread_messages": enforcement_messages.unread_count(client=client, direction=MessageDirection.TO_PERSON),
        }
        return Response(s.MeOutput(body).data)


# --- Check-ins ------------------------------------------------------------------------------


def _status_texts() -> dict[str, str]:
    return {
        CheckInStatus.RECEIVED: _("Your report was received."),
        CheckInStatus.SCORING: _("Your photo is being checked."),
        CheckInStatus.VERIFIED: _("Your report was accepted."),
        CheckInStatus.NEEDS_REVIEW: _("An officer will look at your report. You do not need to do anything unless you are contacted."),
        CheckInStatus.REJECTED: _("Your report could not be accepted. Please contact your officer or report in person."),
        CheckInStatus.REVIEWED: _("An officer has reviewed your report. Your officer will tell you if anything else is needed."),
    }


def _window_brief(window) -> dict | None:
    return None if window is None else {"id": window.pk, "opens_at": window.opens_at, "closes_at": window.closes_at}


def _checkin_out(checkin: CheckIn, texts: dict[str, str]) -> dict:
    return {
        "id": checkin.pk,
        "status": checkin.status,
        "window": _window_brief(checkin.window),
        "status_text": texts[checkin.status],
        "captured_at": checkin.captured_at,
        "received_at": checkin.received_at,
    }


class CheckInSubmitView(_Device):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="checkin_submit",
        summary="Check in: selfie, GPS fix, and any change of circumstances",
        description=(
            "Multipart form. The report is stored and answered 202 at once; the photo is compared later "
            "(follow its status with GET /api/v1/check-ins/{id}). Send a new random `Idempotency-Key` per "
            "check-in and the same one when retrying: a retry answers with the same check-in, the same key "
            "with a different report is 409. A report captured inside a window counts for it when it arrives "
            "before the window's grace period ends; otherwise it is kept as an unscheduled report. "
            "`address`, `employment` and `family_status` are sent only when they changed; each change is "
            "kept as history. Needs both consents (403 `consent_required` otherwise).\n\n"
            "Liveness: ask for a challenge first (POST /api/v1/check-ins/challenge) and send its nonce as "
            "`challenge` with one `frames` file per pose, in order (3 to 5), within the challenge's two minutes; "
            "`selfie` may then be left out. A challenge answers one check-in only (`challenge_used`, 409, when "
            "sent again). A check-in without frames gets 400 `liveness_required` unless the person's reporting "
            "condition allows a single selfie (accessibility). A challenge that is not passed never refuses the "
            "report: an officer looks at the frames."
        ),
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                description="1 to 128 visible ASCII characters; a UUID is a good choice.",
                pattern=r"^[\x21-\x7e]{1,128}$",
                examples=[OpenApiExample("uuid", value="6c1f5b7e-3a0d-4d8e-9c44-2f8e1c0b9a51")],
            )
        ],
        request={"multipart/form-data": s.CheckInInput},
        responses={
            202: OpenApiResponse(
                s.CheckInAccepted,
                description="Stored; the photo will be checked shortly.",
                examples=[OpenApiExample("accepted", value={"id": 4711, "status": "received", "window": s.CHECKIN_EXAMPLE["window"]})],
            ),
            **error_responses(
                "CheckInSubmit",
                [
                    "invalid_input", "malformed_request", "bad_request", "idempotency_key_required", "invalid_idempotency_key",
                    "empty_file", "invalid_image", "image_too_large", "animated_image", "consent_required",
                    "idempotency_key_reused", "upload_too_large", "request_too_large", "unsupported_media_type",
                    "not_an_image", "unsupported_image_type", "throttled", "liveness_required", "challenge_invalid",
                    "challenge_used", "challenge_expired", *AUTH_ERRORS,
                ],
            ),
        },
        examples=[s.CHECKIN_SUBMIT_EXAMPLE],
        tags=["check-ins"],
    )
    def post(self, request):
        key = request.META.get("HTTP_IDEMPOTENCY_KEY")
        if key is None:
            raise DomainError(
                _("Send an Idempotency-Key header: a new random value per check-in, the same on retries."),
                code="idempotency_key_required",
            )
        if not IDEMPOTENCY_KEY.match(key):
            raise DomainError(_("The Idempotency-Key must be 1 to 128 visible ASCII characters."), code="invalid_idempotency_key")
        cap_uploads(request)
        data = _validated(s.CheckInInput, request.data)
        selfie = data.pop("selfie", None)
        frames = [frame.read() for frame in data.pop("frames", [])]
        checkin, created = services.checkin_submit(
            device=request.auth, selfie=None if selfie is None else selfie.read(), idempotency_key=key,
            frames=frames, challenge_nonce=data.pop("challenge", None), **data,
        )
        body = s.CheckInAccepted({"id": checkin.pk, "status": checkin.status, "window": _window_brief(checkin.window)}).data
        return Response(body, status=202, headers=None if created else {"Idempotent-Replayed": "true"})


class CheckInListView(_Device):
    @extend_schema(
        operation_id="checkin_list",
        summary="My check-ins, newest first",
        description="Statuses in plain words; never a score.",
        parameters=[s.CheckInListQuery],
        responses={
            200: OpenApiResponse(s.CheckInListOutput, examples=[OpenApiExample("page", value={"results": [s.CHECKIN_EXAMPLE], "next_before": None})]),
            **error_responses("CheckInList", ["invalid_input", "bad_request", "throttled", *AUTH_ERRORS]),
        },
        tags=["check-ins"],
    )
    def get(self, request):
        query = _validated(s.CheckInListQuery, request.query_params)
        checkins = CheckIn.objects.filter(client=request.auth.client).select_related("window").order_by("-id")
        if "before" in query:
            checkins = checkins.filter(id__lt=query["before"])
        page = list(checkins[: query["limit"] + 1])
        more = len(page) > query["limit"]
        page = page[: query["limit"]]
        texts = _status_texts()
        body = {"results": [_checkin_out(c, texts) for c in page], "next_before": page[-1].pk if more else None}
        return Response(s.CheckInListOutput(body).data)


class CheckInsView(CheckInListView, CheckInSubmitView):
    """/api/v1/check-ins serves two operations (GET lists, POST submits): each is its own view
    above; a URL names one view, so this one is both, with the submission's parser."""

    parser_classes = CheckInSubmitView.parser_classes


def _pose_instructions() -> dict[str, str]:
    return {
        Pose.FRONTAL: _("Look straight at the camera."),
        Pose.LEFT: _("Turn your head to your left."),
        Pose.RIGHT: _("Turn your head to your right."),
    }


class ChallengeView(_Device):
    @extend_schema(
        operation_id="checkin_challenge",
        summary="A liveness challenge for the next check-in",
        description=(
            "A single-use nonce and a random pose sequence (frontal first, then turns of the head to the "
            "person's left and right in a random order, sometimes a fourth pose). Film one frame per pose "
            "and send them, with the nonce, in the check-in (POST /api/v1/check-ins) before `expires_at` "
            "(two minutes by default). Asking again gives a new challenge; an unused one simply expires. "
            "Needs both consents (403 `consent_required` otherwise)."
        ),
        request=None,
        responses={
            201: OpenApiResponse(
                s.ChallengeOutput,
                examples=[s.CHALLENGE_EXAMPLE],
            ),
            **error_responses("CheckInChallenge", ["consent_required", "throttled", *AUTH_ERRORS]),
        },
        tags=["check-ins"],
    )
    def post(self, request):
        nonce, challenge = services.challenge_issue(device=request.auth)
        texts = _pose_instructions()
        body = {
            "challenge": nonce,
            "poses": challenge.poses,
            "instructions": [texts[pose] for pose in challenge.poses],
            "issued_at": challenge.issued_at,
            "expires_at": challenge.expires_at,
        }
        return Response(s.ChallengeOutput(body).data, status=201)


class CheckInDetailView(_Device):
    @extend_schema(
        operation_id="checkin_get",
        summary="One of my check-ins",
        description="Any id that is not one of the caller's check-ins answers 404.",
        parameters=[
            OpenApiParameter(
                "checkin_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The check-in's id.",
                examples=[OpenApiExample("id", value=4711)],
            )
        ],
        responses={
            200: OpenApiResponse(s.CheckInOutput, examples=[OpenApiExample("check-in", value=s.CHECKIN_EXAMPLE)]),
            **error_responses("CheckInGet", ["checkin_not_found", "not_found", "throttled", *AUTH_ERRORS]),
        },
        tags=["check-ins"],
    )
    def get(self, request, checkin_id: int):
        checkin = services.checkin_get(client=request.auth.client, checkin_id=checkin_id)
        return Response(s.CheckInOutput(_checkin_out(checkin, _status_texts())).data)


# --- Benchmark baseline ---------------------------------------------------------------------


class BenchUploadView(APIView):
    """Only with REPORTIN_BENCH_BASELINE (bench/api_checkin.py): receive the same multipart
    upload and save the file, nothing else, so the benchmark can show what our checks cost."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    parser_classes = [MultiPartParser]

    @extend_schema(exclude=True)
    def post(self, request):
        cap_uploads(request)
        name = default_storage.save("bench/upload", ContentFile(request.data["selfie"].read()))
        return Response({"name": name}, status=202)

