"""Requests and appointments on the client's page (issue 18.5): request an ad-hoc check-in,
schedule an appointment, record attendance (attended, missed, cancelled), move it with a
reason, and record an in-person report. Every write goes through enforcement.appointments,
which checks the region and audits it. Times are typed in the client's local time."""

from django import forms
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from enforcement import appointments, roles, schedule
from enforcement.errors import DomainError
from enforcement.models import Appointment, AppointmentKind, AppointmentStatus, Office

APPOINTMENTS_SHOWN = 20
REQUEST_LENGTHS = [(30, _("30 minutes")), (60, _("1 hour")), (120, _("2 hours")), (240, _("4 hours")), (480, _("8 hours")), (1440, _("24 hours"))]
LOCAL_TIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class CheckinRequestForm(forms.Form):
    minutes = forms.TypedChoiceField(label=_("Check in within"), choices=REQUEST_LENGTHS, coerce=int, initial=60)


class _PlaceForm(forms.Form):
    office = forms.ModelChoiceField(label=_("Office"), queryset=Office.objects.none(), required=False)
    place = forms.CharField(label=_("Or another place"), max_length=300, required=False)

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["office"].queryset = Office.objects.filter(region_id=client.region_id, active=True)


class ScheduleForm(_PlaceForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=[(k, label) for k, label in AppointmentKind.choices if k != AppointmentKind.IN_PERSON_REPORT])
    starts_at = forms.DateTimeField(label=_("Starts at (client's local time)"), widget=LOCAL_TIME, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
    bring = forms.CharField(label=_("What to bring"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    field_order = ["kind", "starts_at", "office", "place", "bring"]


class InPersonForm(_PlaceForm):
    note = forms.CharField(label=_("Note"), max_length=1000, required=False)


class RecordForm(forms.Form):
    appointment = forms.IntegerField(widget=forms.HiddenInput)
    outcome = forms.ChoiceField(
        label=_("What happened"), choices=[(s, AppointmentStatus(s).label) for s in appointments.OUTCOMES] + [(AppointmentStatus.RESCHEDULED, AppointmentStatus.RESCHEDULED.label)]
    )
    starts_at = forms.DateTimeField(
        label=_("New time, if moved (client's local time)"), widget=LOCAL_TIME, required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
    )
    reason = forms.CharField(label=_("Reason or note"), max_length=1000, required=False)


def _local(value, client):
    """A time typed in the client's local time, as an aware datetime."""
    return value.replace(tzinfo=schedule.zone(client.local_time_zone)) if value is not None else None


class ClientAppointmentsAdmin:
    """Mixed into the client admin: the section's context, URL and POST view."""

    def appointment_urls(self):
        return [path("<int:client_id>/appointments/", self.admin_site.admin_view(self.appointment_view), name="enforcement_client_appointments")]

    def appointment_section(self, request, client) -> dict:
        may_write = self.has_change_permission(request, client) and not roles.is_auditor(request.user)
        items = list(Appointment.objects.filter(client=client).select_related("office", "recorded_by").order_by("-starts_at", "-id")[:APPOINTMENTS_SHOWN])
        return {
            "items": items,
            "open_ids": [a.pk for a in items if a.status in (AppointmentStatus.SCHEDULED, AppointmentStatus.MISSED)],
            "may_write": may_write,
            "post_url": reverse("admin:enforcement_client_appointments", args=[client.pk]),
            "request_form": CheckinRequestForm() if may_write else None,
            "schedule_form": ScheduleForm(client=client) if may_write else None,
            "in_person_form": InPersonForm(client=client) if may_write else None,
            "outcome_choices": RecordForm.base_fields["outcome"].choices,
        }

    def appointment_view(self, request, client_id):
        client = self._client_for_change(request, client_id)
        back = reverse("admin:enforcement_client_change", args=[client.pk]) + "#appointments"
        if request.method != "POST":
            return HttpResponseRedirect(back)
        op = request.POST.get("op")
        forms_by_op = {"request": CheckinRequestForm, "schedule": ScheduleForm, "in_person": InPersonForm, "record": RecordForm}
        if op not in forms_by_op:
            flash.error(request, gettext("Unknown action."))
            return HttpResponseRedirect(back)
        form_class = forms_by_op[op]
        form = form_class(request.POST, client=client) if issubclass(form_class, _PlaceForm) else form_class(request.POST)
        if not form.is_valid():
            reason = " ".join(error for errors in form.errors.values() for error in errors)
            flash.error(request, gettext("Nothing was recorded: %(reason)s") % {"reason": reason})
            return HttpResponseRedirect(back)
        data, officer = form.cleaned_data, request.user
        try:
            if op == "request":
                window = appointments.checkin_request(client=client, officer=officer, minutes=data["minutes"])
                flash.success(request, gettext("The person is asked to check in now; the window closes at %(closes)s UTC.") % {"closes": f"{window.closes_at:%Y-%m-%d %H:%M}"})
            elif op == "schedule":
                appointments.appointment_schedule(
                    client=client, officer=officer, kind=data["kind"], starts_at=_local(data["starts_at"], client),
                    office=data["office"], place=data["place"], bring=data["bring"],
                )
                flash.success(request, gettext("The appointment is set; the person is told and will be reminded."))
            elif op == "in_person":
                appointments.inperson_report_record(client=client, officer=officer, office=data["office"], place=data["place"], note=data["note"])
                flash.success(request, gettext("The in-person report is recorded."))
            else:
                appointment = Appointment.objects.filter(client=client, pk=data["appointment"]).first()
                if appointment is None:
                    raise DomainError(gettext("This appointment is not this client's."), code="not_found", status=404)
                if data["outcome"] == AppointmentStatus.RESCHEDULED:
                    appointments.appointment_reschedule(
                        appointment=appointment, officer=officer, starts_at=_local(data["starts_at"], client), reason=data["reason"]
                    )
                else:
                    appointments.appointment_record(appointment=appointment, officer=officer, outcome=data["outcome"], reason=data["reason"])
                flash.success(request, gettext("Recorded."))
        except DomainError as exc:
            if exc.status == 403:
                raise PermissionDenied from None
            flash.error(request, gettext("Nothing was recorded: %(reason)s") % {"reason": exc.message})
        return HttpResponseRedirect(back)
