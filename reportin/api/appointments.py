"""The person's appointments (issue 18.5): GET /api/v1/appointments. Their own only: upcoming
ones (soonest first) and recent ones (newest first), with the place, the time in their zone
and what to bring, in the answer's language."""

from datetime import datetime, timedelta

from django.utils import timezone, translation
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from enforcement import schedule, selectors
from enforcement.models import Appointment, AppointmentKind, AppointmentStatus
from reportin.api.docs import AUTH_ERRORS, error_responses
from reportin.api.views import _Device

RECENT_DAYS = 90
SHOWN = 20

# --- Shapes and their examples ---------------------------------------------------------------


class PlaceOutput(serializers.Serializer):
    name = serializers.CharField(help_text="The office's name, or the place the officer wrote.")
    address = serializers.CharField(allow_blank=True)
    hours = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)


class AppointmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=AppointmentKind.choices)
    kind_label = serializers.CharField(help_text="The kind in the answer's language.")
    starts_at = serializers.DateTimeField(help_text="UTC.")
    starts_local = serializers.CharField(help_text="The same instant in the person's time zone, ISO 8601 with its offset.")
    time_zone = serializers.CharField(help_text="The person's IANA time zone.")
    place = PlaceOutput()
    bring = serializers.CharField(allow_blank=True, help_text="What to bring, as the officer wrote it.")
    status = serializers.ChoiceField(choices=AppointmentStatus.choices, help_text="scheduled, attended, missed, rescheduled or cancelled.")
    status_label = serializers.CharField(help_text="The status in the answer's language.")


class AppointmentsOutput(serializers.Serializer):
    upcoming = AppointmentOutput(many=True, help_text="Scheduled and not started yet, soonest first.")
    recent = AppointmentOutput(many=True, help_text=f"The rest of the last {RECENT_DAYS} days, newest first.")


APPOINTMENT_EXAMPLE = {
    "id": 12, "kind": "interview", "kind_label": "Interview", "starts_at": "2026-03-10T14:30:00Z",
    "starts_local": "2026-03-10T10:30:00-04:00", "time_zone": "America/Toronto",
    "place": {"name": "Toronto CBSA office", "address": "1 Front St W, Toronto", "hours": "Monday to Friday, 8:30 to 16:00", "phone": "416-555-0100"},
    "bring": "Your passport and this letter", "status": "scheduled", "status_label": "Scheduled",
}
ATTENDED_EXAMPLE = {
    **APPOINTMENT_EXAMPLE, "id": 9, "kind": "in_person_report", "kind_label": "In-person report", "starts_at": "2026-03-02T15:05:00Z",
    "starts_local": "2026-03-02T10:05:00-05:00", "bring": "", "status": "attended", "status_label": "Attended",
}


def appointment_out(appointment: Appointment, language: str) -> dict:
    client = appointment.client
    zone = client.local_time_zone
    office = selectors.office_public(appointment.office, language)
    place = {key: office[key] for key in ("name", "address", "hours", "phone")} if office else {
        "name": appointment.place, "address": "", "hours": "", "phone": ""
    }
    with translation.override(language):
        kind_label, status_label = str(appointment.get_kind_display()), str(appointment.get_status_display())
    return {
        "id": appointment.pk, "kind": appointment.kind, "kind_label": kind_label, "starts_at": appointment.starts_at,
        "starts_local": appointment.starts_at.astimezone(schedule.zone(zone)).isoformat(), "time_zone": zone, "place": place,
        "bring": appointment.bring, "status": appointment.status, "status_label": status_label,
    }


def appointments_of(client, *, now: datetime) -> tuple[list[Appointment], list[Appointment]]:
    """(upcoming, recent) of this client only."""
    mine = Appointment.objects.filter(client=client).select_related("office", "client", "client__region")
    upcoming = mine.filter(status=AppointmentStatus.SCHEDULED, starts_at__gte=now).order_by("starts_at", "id")[:SHOWN]
    recent = (
        mine.filter(starts_at__gte=now - timedelta(days=RECENT_DAYS)).exclude(status=AppointmentStatus.SCHEDULED, starts_at__gte=now)
        .order_by("-starts_at", "-id")[:SHOWN]
    )
    return list(upcoming), list(recent)


# --- Views: one per operation ----------------------------------------------------------------


class AppointmentsView(_Device):
    @extend_schema(
        operation_id="appointments_list",
        summary="My appointments: upcoming and recent",
        description=(
            "Interviews, hearings, removal-related meetings and in-person reports your officer set or recorded: where, "
            "when (in UTC and in your time zone) and what to bring, in the answer's language. You are reminded 7 days, "
            "1 day and 2 hours before on your channels."
        ),
        responses={
            200: OpenApiResponse(AppointmentsOutput, examples=[
                OpenApiExample("appointments", value={"upcoming": [APPOINTMENT_EXAMPLE], "recent": [ATTENDED_EXAMPLE]}),
            ]),
            **error_responses("Appointments", ["throttled", *AUTH_ERRORS]),
        },
        tags=["appointments"],
    )
    def get(self, request):
        upcoming, recent = appointments_of(request.auth.client, now=timezone.now())
        language = request.LANGUAGE_CODE
        body = {"upcoming": [appointment_out(a, language) for a in upcoming], "recent": [appointment_out(a, language) for a in recent]}
        return Response(AppointmentsOutput(body).data)
