"""The auditors' views in Django admin: consent history, the access log of biometric images,
the decision log and the audit trail (the match log is in backoffice/auditing.py).

Every list is read-only for everyone (append-only records and decisions already taken) and
filters by date range, region, officer and outcome; "Export CSV" exports the list as filtered
(backoffice/exports.py). Auditors and supervisors see every region; anyone else who may view
a list sees their own region's rows only.
"""

import json
from functools import cache

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice import exports
from enforcement import times
from enforcement.admin_base import CLIENT_SEARCH, ScopedReadOnlyAdmin
from enforcement.models import (
    Escalation,
    ExportJob,
    ExportStatus,
    TaskStatus,
    User,
)


class DateRangeFilter(admin.DateFieldListFilter):
    """The usual date links plus a from/to form (both days included, UTC)."""

    template = "admin/enforcement/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_kwarg_from = f"{field_path}__date__gte"
        self.lookup_kwarg_to = f"{field_path}__date__lte"
        self.value_from = (params.get(self.lookup_kwarg_from) or [""])[-1]
        self.value_to = (params.get(self.lookup_kwarg_to) or [""])[-1]
        super().__init__(field, request, params, model, model_admin, field_path)

    def expected_parameters(self):
        return [*super().expected_parameters(), self.lookup_kwarg_from, self.lookup_kwarg_to]

    def choices(self, changelist):
        # The form keeps the list's other filters, its search and its ordering.
        self.hidden_params = [
            (name, value) for name, value in changelist.params.items() if not name.startswith(self.field_generic)
        ]
        yield from super().choices(changelist)


class StaffFilter(admin.RelatedFieldListFilter):
    """Officers by name from the (small) staff table, rather than a DISTINCT over a large log."""

    def field_choices(self, field, request, model_admin):
        return [(user.pk, user.get_username()) for user in User.objects.filter(is_staff=True).order_by("username")]


def fields_list(value):
    """A JSON value as people read it: an object as a definition list (each key in words, its
    value below, nested objects nested), a list of plain values as one line, nothing as "—"."""
    if value is None or value in ({}, [], ""):
        return "—"
    if isinstance(value, dict):
        rows = ((str(key).replace("_", " ").capitalize(), fields_list(item)) for key, item in value.items())
        return format_html('<dl class="fields">{}</dl>', format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return ", ".join(str(fields_list(item)) for item in value)
        return format_html("<ol>{}</ol>", format_html_join("", "<li>{}</li>", ((fields_list(item),) for item in value)))
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    return str(value)


@cache
def _as_fields(model, name: str):
    """The detail page's display of the JSON field `name`: its fields_list."""
    field = model._meta.get_field(name)

    def display(obj):
        return fields_list(getattr(obj, name))

    display.__name__ = name
    display.short_description = field.verbose_name
    return display


class CappedPaginator(Paginator):
    """Counts at most CAP rows of a list (a count over millions of joined rows took seconds:
    8 s for one region's non-matches among 15M face matches); beyond it the list says "more
    than CAP" and its pages reach CAP rows. The CSV export has every row."""

    CAP = 2000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.CAP


class AuditListAdmin(ScopedReadOnlyAdmin):
    """A read-only list, region-scoped by the one base every list shares
    (enforcement.admin.ScopedReadOnlyAdmin, `region_field`), with a CSV export of the filtered
    rows through the one CSV path (backoffice.exports)."""

    paginator = CappedPaginator

    region_field = "client__region"
    # Logs grow by millions of rows: count only what the filters select, and no per-choice
    # counts beside the filters.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    csv_columns: list = []
    change_list_template = "admin/enforcement/audit_change_list.html"
    # Names of the client lookups the "history of this person" links use (lookup_allowed).
    client_lookups: tuple = ("client__uci",)

    def get_fields(self, request, obj=None):
        # Detail pages show JSON (details, evidence, figures) as fields, not as a JSON blob.
        json_fields = {f.name for f in self.model._meta.get_fields() if isinstance(f, models.JSONField)}
        return [_as_fields(self.model, name) if name in json_fields else name for name in super().get_fields(request, obj)]

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in self.client_lookups or super().lookup_allowed(lookup, value, request)

    def changelist_view(self, request, extra_context=None):
        info = self.opts.app_label, self.opts.model_name
        extra_context = {
            **(extra_context or {}),
            "export_url": reverse("admin:{}_{}_export".format(*info)) + ("?" + request.GET.urlencode() if request.GET else ""),
            "dashboard_url": _dashboard_url() if request.user.has_perm("enforcement.view_auditevent") else "",
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("export/", view(self.export_view), name="{}_{}_export".format(*info)),
            path("export/<int:job_id>/", view(self.export_progress_view), name="{}_{}_export_progress".format(*info)),
            path("export/<int:job_id>/download/", view(self.export_download_view), name="{}_{}_export_download".format(*info)),
            *super().get_urls(),
        ]

    # --- CSV export -------------------------------------------------------------------------

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = request.GET.urlencode()
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist") + "?e=1")
        queryset = changelist.get_queryset(request)
        total = queryset.count()
        label, now = self.opts.label_lower, timezone.now()
        if total > settings.REPORTIN_EXPORT_STREAM_MAX_ROWS:
            job = exports.export_start(user=request.user, model_label=label, query=query, total=total, now=now)
            return HttpResponseRedirect(self._export_url("progress", job))
        exports.export_audit(user=request.user, action="export.csv", model_label=label, query=query, rows=total, now=now)
        return exports.csv_response(self.csv_columns, queryset, filename=exports.filename(label, now))

    def _export_url(self, kind: str, job: ExportJob) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_export_{kind}", args=[job.pk])

    def _own_job(self, request, job_id: int) -> ExportJob:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # Only the person who asked sees an export's progress or file.
        job = ExportJob.objects.filter(pk=job_id, requested_by=request.user, model_label=self.opts.label_lower).first()
        if job is None:
            raise Http404
        return job

    def export_progress_view(self, request, job_id: int):
        job = self._own_job(request, job_id)
        if request.GET.get("format") == "json":
            return JsonResponse({"status": job.status, "done": job.done, "total": job.total, "percent": job.percent})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Export of the %(list)s") % {"list": self.opts.verbose_name_plural},
            "opts": self.opts,
            "job": job,
            "finished": job.status in (ExportStatus.DONE, ExportStatus.FAILED),
            "download_url": self._export_url("download", job) if job.status == ExportStatus.DONE else "",
            "changelist_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            + (f"?{job.query}" if job.query else ""),
        }
        return TemplateResponse(request, "admin/enforcement/export_progress.html", context)

    def export_download_view(self, request, job_id: int):
        job = self._own_job(request, job_id)
        if job.status != ExportStatus.DONE or not job.file:  # not ready, or deleted (retention)
            raise Http404
        exports.export_audit(
            user=request.user, action="export.download", model_label=job.model_label, query=job.query, rows=job.total, job=job
        )
        handle = job.file.open("rb")
        return FileResponse(
            handle, as_attachment=True, filename=exports.filename(job.model_label, job.created_at), content_type="text/csv"
        )


def _dashboard_url() -> str:
    return reverse("admin:accountability-dashboard")  # mounted by backoffice.site


def _who(user) -> str:
    return user.get_username() if user is not None else ""


def _client_history_link(obj, lookup="client__uci"):
    client = obj.client
    return format_html('<a href="?{}">{}</a>', urlencode({lookup: client.uci}), str(client))


class ClientColumns:
    """The client (a link that filters the list to their history) and region columns of the
    lists whose rows are about a client."""

    @admin.display(description=_("client"), ordering="client__family_name")
    def client_history(self, obj):
        return _client_history_link(obj)

    @admin.display(description=_("region"), ordering="client__region__name")
    def region(self, obj):
        return obj.client.region


# --- Consent history ------------------------------------------------------------------------


class ConsentRecordAdmin(ClientColumns, AuditListAdmin):
    list_display = [
        "recorded_at",
        "client_history",
        "region",
        "kind",
        "decision",
        "text_version",
        "text_hash",
        "language",
        "channel",
        "who",
    ]
    list_filter = [
        ("recorded_at", DateRangeFilter),
        "client__region",
        ("recorded_by", StaffFilter),
        "decision",
        "kind",
        "channel",
    ]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client", "client__region", "recorded_by"]
    csv_columns = [
        (_("recorded at"), "recorded_at"),
        (_("UCI"), "client__uci"),
        (_("client"), lambda r: r.client.full_name),
        (_("region"), "client__region__name"),
        (_("country of citizenship"), "client__country_of_citizenship"),
        (_("kind"), "kind"),
        (_("decision"), "decision"),
        (_("text version"), "text_version"),
        (_("text sha256"), "text_sha256"),
        (_("language"), "language"),
        (_("channel"), "channel"),
        (_("recorded by"), lambda r: _who(r.recorded_by)),
        (_("device id"), "device_id"),
    ]

    @admin.display(description=_("text sha256"))
    def text_hash(self, obj):
        return format_html('<code title="{}">{}…</code>', obj.text_sha256, obj.text_sha256[:12])

    @admin.display(description=_("who"))
    def who(self, obj):
        if obj.recorded_by is not None:
            return _who(obj.recorded_by)
        return _("the client, in the app (device %(device)s)") % {"device": obj.device_id}


# --- Access log -----------------------------------------------------------------------------


class AccessRecordAdmin(ClientColumns, AuditListAdmin):
    list_display = ["viewed_at", "viewer", "client_history", "region", "object_type", "object_id", "task_link", "ip_address"]
    list_filter = [
        ("viewed_at", DateRangeFilter),
        "client__region",
        ("viewer", StaffFilter),
        "object_type",
    ]
    search_fields = ["viewer__username", *CLIENT_SEARCH]
    list_select_related = ["viewer", "client", "client__region", "task"]
    csv_columns = [
        (_("viewed at"), "viewed_at"),
        (_("viewer"), lambda r: _who(r.viewer)),
        (_("UCI"), "client__uci"),
        (_("region"), "client__region__name"),
        (_("image kind"), "object_type"),
        (_("image id"), "object_id"),
        (_("task"), "task_id"),
        (_("task reason"), "task__reason"),
        (_("address"), "ip_address"),
    ]

    @admin.display(description=_("from task"), ordering="task")
    def task_link(self, obj):
        if obj.task_id is None:
            return "—"
        return f"{obj.task_id} ({obj.task.get_reason_display()})"


# --- Decision log ---------------------------------------------------------------------------


def _escalation_line(escalation: Escalation) -> str:
    line = (
        f"{escalation.get_kind_display()}: {escalation.get_status_display()}; "
        f"proposed by {_who(escalation.proposed_by)} {times.shown(escalation.proposed_at)} ({escalation.reason})"
    )
    if escalation.decided_by_id:
        line += f"; signed off by {_who(escalation.decided_by)} {times.shown(escalation.decided_at)}"
        if escalation.decision_note:
            line += f" ({escalation.decision_note})"
    return line


class EscalationInline(admin.TabularInline):
    model = Escalation
    fk_name = "task"
    extra = 0
    can_delete = False
    fields = ["kind", "status", "reason", "proposed_by", "proposed_at", "decided_by", "decided_at", "decision_note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class EscalationDecisionFilter(admin.SimpleListFilter):
    title = _("escalation")
    parameter_name = "escalation"

    def lookups(self, request, model_admin):
        return [
            ("any", _("Any escalation")),
            ("proposed", _("Awaiting sign-off")),
            ("approved", _("Approved")),
            ("rejected", _("Rejected")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "any":
            return queryset.filter(Exists(Escalation.objects.filter(task=OuterRef("pk"))))
        if value in ("proposed", "approved", "rejected"):
            return queryset.filter(Exists(Escalation.objects.filter(task=OuterRef("pk"), status=value)))
        return queryset


class DecisionLogAdmin(ClientColumns, AuditListAdmin):
    """Tasks an officer resolved, and tasks with an escalation (proposed by one person and
    signed off, or not yet, by a supervisor)."""

    list_display = [
        "resolved_at",
        "id",
        "client_history",
        "region",
        "reason",
        "resolution",
        "note",
        "resolved_by",
        "escalation_summary",
    ]
    list_filter = [
        ("resolved_at", DateRangeFilter),
        "client__region",
        ("resolved_by", StaffFilter),
        "resolution",
        "reason",
        EscalationDecisionFilter,
    ]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client", "client__region", "resolved_by"]
    ordering = ["-resolved_at", "-id"]
    inlines = [EscalationInline]
    csv_columns = [
        (_("task"), "id"),
        (_("opened at"), "created_at"),
        (_("UCI"), "client__uci"),
        (_("region"), "client__region__name"),
        (_("country of citizenship"), "client__country_of_citizenship"),
        (_("reason"), "reason"),
        (_("check-in"), "checkin_id"),
        (_("status"), "status"),
        (_("resolution"), "resolution"),
        (_("resolution note"), "resolution_note"),
        (_("resolved by"), lambda t: _who(t.resolved_by)),
        (_("resolved at"), "resolved_at"),
        (_("escalations"), lambda t: " | ".join(_escalation_line(e) for e in t.escalations.all())),
    ]

    def get_queryset(self, request):
        has_escalation = Exists(Escalation.objects.filter(task=OuterRef("pk")))
        return (
            super()
            .get_queryset(request)
            .filter(Q(status=TaskStatus.RESOLVED) | has_escalation)
            .prefetch_related("escalations__proposed_by", "escalations__decided_by")
        )

    @admin.display(description=_("note"))
    def note(self, obj):
        text = obj.resolution_note
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description=_("escalations (proposed / signed off)"))
    def escalation_summary(self, obj):
        escalations = list(obj.escalations.all())
        if not escalations:
            return "—"
        return format_html_join(mark_safe("<br>"), "{}", ((_escalation_line(e),) for e in escalations))


# --- Audit trail ----------------------------------------------------------------------------


class AuditEventAdmin(AuditListAdmin):
    list_display = ["seq", "occurred_at", "actor_label", "action", "object_type", "object_id", "client"]
    list_filter = [
        ("occurred_at", DateRangeFilter),
        "client__region",
        ("actor", StaffFilter),
        "action",
    ]
    search_fields = ["actor_label", "action", "object_id", "client__uci"]
    list_select_related = ["client"]
    csv_columns = [
        (_("seq"), "seq"),
        (_("occurred at"), "occurred_at"),
        (_("actor"), "actor_label"),
        (_("action"), "action"),
        (_("object type"), "object_type"),
        (_("object id"), "object_id"),
        (_("UCI"), "client__uci"),
        (_("details"), lambda e: json.dumps(e.details, sort_keys=True, ensure_ascii=False)),
        (_("previous hash"), "prev_hash"),
        (_("hash"), "hash"),
    ]
