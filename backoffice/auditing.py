"""The auditors' match log (every FaceMatch with all its figures) and the accountability
dashboard (the figures of `manage.py accountability_report`, in admin)."""

import base64
import json
from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from backoffice import accountability_report
from backoffice.audit_lists import AuditListAdmin, DateRangeFilter, StaffFilter
from enforcement import services
from enforcement.models import AuditVerification
from reportin import accountability


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if value not in (None, {}, []) else ""


class FaceMatchAdmin(AuditListAdmin):
    region_field = "checkin__client__region"
    client_lookups = ("checkin__client__uci",)
    # The rest of the figures (distances, quality, face box, replay, detail) are on each row's
    # page and in the CSV.
    list_display = [
        "scored_at", "checkin_id", "client_history", "region", "decision", "best_distance", "threshold", "faces_found",
        "model_version", "pipeline_version", "duration_ms",
    ]
    list_display_links = ["scored_at", "checkin_id"]
    list_filter = [
        ("scored_at", DateRangeFilter),
        "checkin__client__region",
        ("checkin__client__case_officer", StaffFilter),
        "decision",
    ]
    search_fields = ["checkin__client__uci", "checkin__client__family_name", "=model_version"]
    list_select_related = ["checkin", "checkin__client", "checkin__client__region"]
    csv_columns = [
        (_("scored at"), "scored_at"),
        (_("check-in"), "checkin_id"),
        (_("received at"), "checkin__received_at"),
        (_("UCI"), "checkin__client__uci"),
        (_("region"), "checkin__client__region__name"),
        (_("country of citizenship"), "checkin__client__country_of_citizenship"),
        (_("decision"), "decision"),
        (_("best distance"), "best_distance"),
        (_("similarity"), "similarity"),
        (_("threshold"), "threshold"),
        (_("reference photo"), "reference_photo_id"),
        (_("distances"), lambda m: _json(m.distances)),
        (_("faces found"), "faces_found"),
        (_("face box"), lambda m: _json(m.face_box)),
        (_("quality"), lambda m: _json(m.quality)),
        (_("replay"), lambda m: _json(m.replay)),
        (_("detail"), lambda m: _json(m.detail)),
        (_("model version"), "model_version"),
        (_("pipeline version"), "pipeline_version"),
        (_("duration ms"), "duration_ms"),
        (_("attempts"), "attempts"),
        (_("check-in status"), "checkin__status"),
        (_("location"), "checkin__location_result"),
    ]

    @admin.display(description=_("client"), ordering="checkin__client__family_name")
    def client_history(self, obj):
        client = obj.checkin.client
        return format_html('<a href="?{}">{}</a>', urlencode({"checkin__client__uci": client.uci}), client.uci)

    @admin.display(description=_("region"), ordering="checkin__client__region__name")
    def region(self, obj):
        return obj.checkin.client.region


# --- The dashboard --------------------------------------------------------------------------


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To (included)"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        if data.get("start") and data.get("end") and (data["end"] - data["start"]).days > 3660:
            raise forms.ValidationError(_("At most ten years at a time."))
        return data


def may_see_dashboard(user) -> bool:
    # Auditors and supervisors (who read the audit trail); officers see their own queue.
    return user.is_active and user.is_staff and (user.is_superuser or user.has_perm("enforcement.view_auditevent"))


def accountability_dashboard(request):
    """The accountability figures for a period (the last 30 days unless chosen), as in the report."""
    if not may_see_dashboard(request.user):
        raise PermissionDenied
    today = timezone.now().date()
    initial = {"start": today - timedelta(days=29), "end": today}
    form = PeriodForm(request.GET or initial)
    report = None
    if form.is_valid():
        report = accountability.figures(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
    logs = [
        (_("Match log"), "admin:reportin_facematch_changelist", "scored_at"),
        (_("Decision log"), "admin:enforcement_decision_changelist", "resolved_at"),
        (_("Consent history"), "admin:enforcement_consentrecord_changelist", "recorded_at"),
        (_("Access log"), "admin:enforcement_accessrecord_changelist", "viewed_at"),
        (_("Audit trail"), "admin:enforcement_auditevent_changelist", "occurred_at"),
    ]
    period = {"start": (report.start if report else initial["start"]), "end": (report.end if report else initial["end"])}
    # Drawing the three charts takes a few seconds (matplotlib): only when asked for.
    show_charts = report is not None and request.GET.get("charts") == "1"
    context = {
        **admin.site.each_context(request),
        "title": _("Accountability dashboard"),
        "form": form,
        "report": report,
        "rates": accountability.RATES,
        "outcomes": accountability.OUTCOMES,
        "dimensions": accountability.DIMENSIONS,
        "logs": [(name, _log_url(url, field, period["start"], period["end"])) for name, url, field in logs],
        "verification": AuditVerification.objects.first(),
        "charts": _charts(report) if show_charts else [],
        "period": period,
        "charts_url": "?" + urlencode({**{k: v.isoformat() for k, v in period.items()}, "charts": "1"}),
    }
    return TemplateResponse(request, "backoffice/accountability_dashboard.html", context)


@require_POST
def audit_verify_view(request):
    """"Verify now" on the dashboard: the chain verified (or queued for the worker when long),
    the outcome kept and shown on the dashboard."""
    if not may_see_dashboard(request.user):
        raise PermissionDenied
    outcome = services.audit_verification_request(user=request.user)
    if outcome is None:
        messages.info(
            request,
            gettext("Verification started on the worker: the audit trail is long. Its result appears here when it is done."),
        )
    elif outcome.ok:
        messages.success(request, gettext("Audit trail intact: %(events)s events verified.") % {"events": outcome.events_checked})
    else:
        messages.error(
            request,
            gettext("Audit trail broken at event #%(seq)s: %(problem)s") % {"seq": outcome.broken_seq, "problem": outcome.problem},
        )
    # Back to the period the auditor was looking at (the form's hidden fields), if it is one.
    period = PeriodForm(request.POST)
    query = "?" + urlencode({k: period.cleaned_data[k].isoformat() for k in ("start", "end")}) if period.is_valid() else ""
    return HttpResponseRedirect(reverse("admin:accountability-dashboard") + query)


def _log_url(name: str, field: str, start: date, end: date) -> str:
    return reverse(name) + "?" + urlencode({f"{field}__date__gte": start.isoformat(), f"{field}__date__lte": end.isoformat()})


def _charts(report: accountability.Figures) -> list[tuple[str, str]]:
    """The report's charts as (alt text, data: URL): the staff pages' policy allows data: images
    (reportin/api/middleware.py), and nothing is written to disk."""
    timeline = _("Check-ins per day by outcome") if report.period == "day" else _("Check-ins per week by outcome")
    titles = {
        "timeline": timeline,
        **{
            dim: gettext("Rates by %(dimension)s") % {"dimension": str(label).lower()}
            for dim, (_f, label) in accountability.DIMENSIONS.items()
        },
    }
    return [
        (
            gettext("Chart: %(title)s (the same figures are in the tables below)") % {"title": title},
            "data:image/png;base64," + base64.b64encode(accountability_report.chart_png(report, chart)).decode("ascii"),
        )
        for chart, title in titles.items()
    ]
