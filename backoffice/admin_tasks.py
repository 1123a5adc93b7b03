"""The officers' triage queue (the InvestigationTask list) and the task page.

The queue: the officer's region (supervisors and auditors: every region), unresolved tasks by
default, by priority then age; filters for reason, status, priority, region, "assigned to me"
and "past due"; search by UCI and name; counts per reason; a fixed number of queries
whatever the page shows. The task page: the selfie beside the reference photos (through the
permission-checked image views, each image recorded), the decision in plain words, the GPS
fix, the client's timeline, consent and circumstance changes, and the decisions: assign to
me, reassign (supervisor), the blind first look, resolve with a resolution and a note,
escalate, sign off (another supervisor). Each decision is a small POST view at its own address
(`decisions()`: form, service, message, redirect); every one goes through a service that
writes an audit event.

It is part of the back office (above reportin and enforcement): the task page shows
enforcement's task beside reportin's check-ins and selfies. backoffice/admin.py registers it
(with the supervisors' additions).
"""

import functools
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from backoffice import exports, triage
from backoffice.casework import TaskCaseworkAdmin, blind_look, queue_filters, queue_query, queue_url, resolution_choices
from enforcement import biometric_images, roles, times
from enforcement import services as enforcement_services
from enforcement.admin_base import CLIENT_SEARCH, RegionScopedAdmin
from enforcement.admin_messages import TaskMessagesAdmin
from enforcement.errors import DomainError
from enforcement.models import (
    BiometricKind,
    EscalationKind,
    EscalationStatus,
    InvestigationTask,
    Message,
    MessageDirection,
    ReferencePhoto,
    SamePerson,
    TaskReason,
    TaskResolution,
    TaskStatus,
    User,
    WindowStatus,
)
from reportin import services
from reportin.models import CheckIn, CheckInStatus, FaceMatch, LivenessFrame

UNRESOLVED = "unresolved"


class StatusFilter(admin.SimpleListFilter):
    """Unresolved tasks unless asked otherwise: the queue is what is left to do."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(UNRESOLVED, _("Open or in progress")), *TaskStatus.choices, ("all", _("All"))]

    def choices(self, changelist):
        value = self.value() or UNRESOLVED
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or UNRESOLVED
        if value == UNRESOLVED:
            return queryset.exclude(status=TaskStatus.RESOLVED)
        if value in TaskStatus.values:
            return queryset.filter(status=value)
        return queryset


class AssignedToMeFilter(admin.SimpleListFilter):
    title = _("assignment")
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("me", _("Assigned to me")), ("nobody", _("Not assigned"))]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assignee=request.user)
        if self.value() == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset


class PastDueFilter(admin.SimpleListFilter):
    title = _("due")
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("past", _("Past due")), ("today", _("Due within 24 hours"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "past":
            return queryset.filter(due_by__lt=now).exclude(status=TaskStatus.RESOLVED)
        if self.value() == "today":
            return queryset.filter(due_by__gte=now, due_by__lt=now + timedelta(hours=24)).exclude(status=TaskStatus.RESOLVED)
        return queryset


class RegionFilter(admin.RelatedFieldListFilter):
    """Only for those who see more than one region."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.user = request.user
        super().__init__(field, request, params, model, model_admin, field_path)

    def has_output(self):
        return roles.sees_all_regions(self.user) and super().has_output()


# --- Decision forms ---------------------------------------------------------------------------


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(label=_("Resolution"))
    note = forms.CharField(
        label=_("Note"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("What you checked and why you decided so. Kept with the decision."),
    )

    def __init__(self, *args, task: InvestigationTask, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resolution"].choices = resolution_choices(task)


class ReassignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Assign to"), queryset=User.objects.none())

    def __init__(self, *args, task: InvestigationTask, **kwargs):
        super().__init__(*args, **kwargs)
        # Officers of the task's region, and supervisors (who work every region).
        self.fields["assignee"].queryset = (
            User.objects.filter(is_active=True, is_staff=True)
            .filter(Q(region_id=task.client.region_id, groups__name=roles.OFFICER) | Q(groups__name=roles.SUPERVISOR))
            .distinct()
            .order_by("username")
        )


class EscalateForm(forms.Form):
    kind = forms.ChoiceField(label=_("Recommendation"), choices=[("", "---------"), *EscalationKind.choices])
    reason = forms.CharField(label=_("Why"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class BlindAnswerForm(forms.Form):
    answer = forms.ChoiceField(label=_("Same person?"), choices=SamePerson.choices, widget=forms.RadioSelect)


class SignOffForm(forms.Form):
    escalation = forms.IntegerField(widget=forms.HiddenInput)
    # Radio buttons with none chosen: an adverse step is approved by a choice, never by default.
    approve = forms.TypedChoiceField(
        label=_("Decision"), coerce=lambda v: v == "yes", choices=[("yes", _("Approve")), ("no", _("Do not approve"))],
        widget=forms.RadioSelect, error_messages={"required": _("Choose whether you approve this escalation or not.")},
    )
    note = forms.CharField(label=_("Note"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))

    def __init__(self, *args, **kwargs):
        # Its own element ids: a supervisor's task page also has the resolution form's note, and
        # a label must name its own field ("id_signoff_note", the field's name stays "note").
        kwargs.setdefault("auto_id", "id_signoff_%s")
        super().__init__(*args, **kwargs)


# --- The admin --------------------------------------------------------------------------------


def _decision(method):
    """A decision of the task page (a POST view): the task if the user may see it (404/403
    otherwise) and change it (403), and a refusal of the service shown on the task page."""

    @functools.wraps(method)
    def view(self, request, task_id):
        task = self._task(request, task_id)
        if not self.has_change_permission(request, task):
            raise PermissionDenied
        try:
            return method(self, request, task)
        except DomainError as exc:
            messages.error(request, str(exc.message))
            return self._back(request, task)

    return view


def _after_first_look(method):
    """A decision the officer takes only after the blind first look (issue 17.4), if it owes one."""

    @functools.wraps(method)
    def view(self, request, task):
        if blind_look(task, request.user)[0]:
            messages.error(request, gettext("Answer “Same person?” from the photos first."))
            return self._back(request, task)
        return method(self, request, task)

    return view



class UnreadMessagesChangeList(ChangeList):
    """The queue's rows carry the count of the person's messages no officer has read yet (one
    subquery per row on the partial index of unread messages, in the same statement)."""

    def get_queryset(self, request, exclude_parameters=None):
        unread = (
            Message.objects.filter(client_id=OuterRef("client_id"), direction=MessageDirection.TO_OFFICER, read_at__isnull=True)
            .order_by().values("client_id").annotate(n=Count("pk")).values("n")
        )
        return super().get_queryset(request, exclude_parameters).annotate(unread_messages=Subquery(unread))


class InvestigationTaskAdmin(TaskCaseworkAdmin, TaskMessagesAdmin, RegionScopedAdmin):
    list_display = ["priority_label", "reason_label", "client_label", "region_label", "status", "assignee", "age", "due"]
    list_display_links = ["reason_label"]
    list_filter = [
        StatusFilter, "reason", "priority", ("region", RegionFilter), AssignedToMeFilter, PastDueFilter,
    ]
    search_fields = ["=client__uci", "client__family_name", "client__given_name"]
    list_select_related = ["client", "region", "assignee"]
    # The task's own copy of its client's region (kept by the services): the queue reads one
    # index instead of joining every client.
    region_field = "region"
    ordering = ["-priority", "created_at", "id"]
    list_per_page = 50
    # The count of all tasks (without the filters) is one more scan of a large table for a
    # figure the queue does not need.
    show_full_result_count = False
    actions = ["export_csv"]
    change_list_template = "admin/enforcement/investigationtask/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # --- list columns

    @admin.display(description=_("priority"), ordering="priority")
    def priority_label(self, task):
        return format_html('<span class="priority priority-{}">{}</span>', task.priority, task.get_priority_display())

    @admin.display(description=_("reason"), ordering="reason")
    def reason_label(self, task):
        return task.get_reason_display()

    @admin.display(description=_("client"), ordering="client__family_name")
    def client_label(self, task):
        name = f"{task.client.family_name.upper()}, {task.client.given_name} ({task.client.uci})"
        unread = getattr(task, "unread_messages", 0) or 0
        if not unread:
            return name
        words = ngettext("%(n)s unread message from the person", "%(n)s unread messages from the person", unread) % {"n": unread}
        return format_html('{} <span class="unread-messages" title="{}">✉ {}</span>', name, words, words)

    def get_changelist(self, request, **kwargs):
        return UnreadMessagesChangeList

    @admin.display(description=_("region"), ordering="region__name")
    def region_label(self, task):
        return region_name(task.region)

    @admin.display(description=_("age"), ordering="created_at")
    def age(self, task):
        return format_html(
            '<span title="{}">{}</span>', gettext("opened %(when)s") % {"when": times.shown(task.created_at, _task_zone(task))},
            _short_duration(timezone.now() - task.created_at),
        )

    @admin.display(description=_("due"), ordering="due_by")
    def due(self, task):
        if task.status != TaskStatus.RESOLVED and task.due_by < timezone.now():
            return format_html('<strong class="past-due">{}</strong>', gettext("past due"))
        return times.shown(task.due_by, _task_zone(task))

    # --- the queue

    def changelist_view(self, request, extra_context=None):
        scoped = self.get_queryset(request).exclude(status=TaskStatus.RESOLVED)
        counts = dict(scoped.order_by().values_list("reason").annotate(n=Count("id")))
        reason_counts = [
            {"reason": value, "label": label, "count": counts[value]} for value, label in TaskReason.choices if counts.get(value)
        ]
        extra = {
            "reason_counts": reason_counts,
            "open_total": sum(counts.values()),
            "scope_label": gettext("All regions") if roles.sees_all_regions(request.user) else (
                region_name(request.user.region) if request.user.region_id else gettext("No region")
            ),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    @admin.action(description=_("Export the selected tasks (CSV)"), permissions=["view"])
    def export_csv(self, request, queryset):
        # The queryset is already the user's region only (get_queryset); the same CSV path as
        # the auditors' lists (backoffice.exports: a client's name may start with "=").
        queryset = queryset.select_related("client", "client__region", "assignee").order_by("-priority", "created_at", "id")
        ids = list(queryset.values_list("pk", flat=True))
        enforcement_services.audit_record(actor=request.user, action="export.tasks", details={"count": len(ids), "ids": ids[:1000]})
        return exports.csv_response(TASK_CSV_COLUMNS, queryset, filename="tasks.csv")

    # --- the task page

    def decisions(self) -> dict:
        """The task page's decisions by the last part of their address (<task id>/<name>/)."""
        return {
            "assign-me": self.assign_me_view,
            "reassign": self.reassign_view,
            "blind": self.blind_view,
            "resolve": self.resolve_view,
            "escalate": self.escalate_view,
            "sign-off": self.sign_off_view,
        }

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("<int:task_id>/selfie/", view(self.selfie_view), name="enforcement_investigationtask_selfie"),
            path("<int:task_id>/frame/<int:frame_id>/", view(self.frame_view), name="enforcement_investigationtask_frame"),
            path("<int:task_id>/reference/<int:photo_id>/", view(self.reference_view), name="enforcement_investigationtask_reference"),
            *(
                path(f"<int:task_id>/{name}/", view(require_POST(decide)), name=f"enforcement_investigationtask_{name.replace('-', '_')}")
                for name, decide in self.decisions().items()
            ),
        ]
        return own + self.message_urls() + self.casework_urls() + super().get_urls()

    def _task(self, request, task_id) -> InvestigationTask:
        """The task if the user may see it: 404 if there is no such task, 403 if it belongs to
        another region (the refusal is explicit; task ids are not secret)."""
        task = self.get_queryset(request).select_related("client", "client__region", "assignee", "resolved_by").filter(pk=task_id).first()
        if task is None:
            if InvestigationTask.objects.filter(pk=task_id).exists() and self.has_view_permission(request):
                raise PermissionDenied
            raise Http404
        if not self.has_view_permission(request, task):
            raise PermissionDenied
        return task

    def change_view(self, request, object_id, form_url="", extra_context=None):
        try:
            task_id = int(object_id)
        except (TypeError, ValueError):
            raise Http404 from None
        task = self._task(request, task_id)
        if request.method != "GET":
            if not self.has_change_permission(request, task):
                raise PermissionDenied
            # Each decision posts to its own address (decisions()).
            return HttpResponseNotAllowed(["GET"])
        return self._render_task(request, task)

    def _render_task(self, request, task, *, forms_override=None):
        page = triage.task_page(task=task)
        can_change = self.has_change_permission(request, task) and task.status != TaskStatus.RESOLVED
        user = request.user
        pending = [e for e in page.escalations if e.status == EscalationStatus.PROPOSED]
        blind_pending, blind_answer = blind_look(task, user)
        blind_pending = blind_pending and can_change
        forms_ = {
            "resolve_form": ResolveForm(task=task),
            "reassign_form": ReassignForm(task=task) if roles.is_supervisor(user) else None,
            "escalate_form": EscalateForm() if not pending else None,
            "signoff_form": SignOffForm(initial={"escalation": pending[0].pk}) if pending else None,
            "blind_form": BlindAnswerForm() if blind_pending else None,
            **(forms_override or {}),
        }
        context = {
            **self.admin_site.each_context(request),
            "title": f"{task.get_reason_display()} — {task.client}",
            "opts": self.model._meta,
            "original": task,
            "task": task,
            "page": page,
            "has_view_permission": True,
            "can_change": can_change,
            "may_view_images": biometric_images.may_view(user, task.client),
            "blind_pending": blind_pending,
            "blind_answer": blind_answer,
            "can_assign_me": can_change and task.assignee_id != user.pk and (task.assignee_id is None or roles.is_supervisor(user)),
            "pending_escalation": pending[0] if pending else None,
            "can_sign_off": bool(pending) and roles.is_supervisor(user) and user.has_perm("enforcement.approve_escalation")
            and pending[0].proposed_by_id != user.pk,
            "now": timezone.now(),
            "message_section": self.message_section(request, task),
            # A person's answer contesting a check-in an officer decided: what each choice does.
            "contested": [
                {**found, "status": CheckInStatus(found["status"]).label,
                 "window_status": WindowStatus(found["window_status"]).label if found["window_status"] else None}
                for found in (services.contested_checkins(task) if can_change else [])
            ],
            **self.casework_context(request, task, can_change=can_change),
            **forms_,
        }
        return TemplateResponse(request, "admin/enforcement/investigationtask/task.html", context)

    # --- the decisions: one POST view each (form, service, message, redirect)

    def _back(self, request, task) -> HttpResponseRedirect:
        """To the task page, with the queue's filters kept."""
        return HttpResponseRedirect(
            reverse("admin:enforcement_investigationtask_change", args=[task.pk]) + queue_query(queue_filters(request))
        )

    @_decision
    def assign_me_view(self, request, task):
        enforcement_services.task_assign(task=task, assignee=request.user, by=request.user)
        messages.success(request, gettext("The task is assigned to you."))
        return self._back(request, task)

    @_decision
    def reassign_view(self, request, task):
        if not roles.is_supervisor(request.user):
            raise PermissionDenied
        form = ReassignForm(request.POST, task=task)
        if not form.is_valid():
            return self._render_task(request, task, forms_override={"reassign_form": form})
        enforcement_services.task_assign(task=task, assignee=form.cleaned_data["assignee"], by=request.user)
        messages.success(request, gettext("The task is assigned to %(user)s.") % {"user": form.cleaned_data["assignee"]})
        return self._back(request, task)

    @_decision
    def blind_view(self, request, task):
        form = BlindAnswerForm(request.POST)
        if not form.is_valid():
            return self._render_task(request, task, forms_override={"blind_form": form})
        enforcement_services.task_blind_answer(task=task, officer=request.user, answer=form.cleaned_data["answer"])
        return self._back(request, task)

    @_decision
    @_after_first_look
    def resolve_view(self, request, task):
        form = ResolveForm(request.POST, task=task)
        if not form.is_valid():
            return self._render_task(request, task, forms_override={"resolve_form": form})
        filters = queue_filters(request)
        # "Save and next": the next task is found before this one leaves the queue.
        next_id = self.queue_neighbour(request, task, filters=filters) if "_next" in request.POST else None
        resolution = form.cleaned_data["resolution"]
        services.task_decide(task=task, resolution=resolution, note=form.cleaned_data["note"], officer=request.user)
        messages.success(
            request, gettext("Task %(id)d resolved: %(resolution)s.") % {"id": task.pk, "resolution": TaskResolution(resolution).label},
        )
        if "_next" in request.POST:
            return self.queue_next_redirect(request, filters=filters, next_id=next_id)
        return HttpResponseRedirect(queue_url(filters))

    @_decision
    @_after_first_look
    def escalate_view(self, request, task):
        form = EscalateForm(request.POST)
        if not form.is_valid():
            return self._render_task(request, task, forms_override={"escalate_form": form})
        enforcement_services.escalation_propose(task=task, kind=form.cleaned_data["kind"], reason=form.cleaned_data["reason"], by=request.user)
        messages.success(request, gettext("Escalation proposed; another supervisor must sign it off."))
        return self._back(request, task)

    @_decision
    def sign_off_view(self, request, task):
        form = SignOffForm(request.POST)
        if not form.is_valid():
            return self._render_task(request, task, forms_override={"signoff_form": form})
        escalation = task.escalations.filter(pk=form.cleaned_data["escalation"]).first()
        if escalation is None:
            raise Http404
        approve = form.cleaned_data["approve"]
        services.escalation_decide(escalation=escalation, approve=approve, note=form.cleaned_data["note"], by=request.user)
        messages.success(request, gettext("Escalation approved.") if approve else gettext("Escalation not approved."))
        return self._back(request, task)

    # --- images, each access recorded

    def selfie_view(self, request, task_id):
        task = self._task(request, task_id)
        checkin = CheckIn.objects.filter(pk=task.checkin_id, client_id=task.client_id).first() if task.checkin_id else None
        if checkin is None:
            raise Http404
        match = FaceMatch.objects.filter(checkin_id=checkin.pk).only("face_box", "detail").first()
        return biometric_images.serve(
            request, file=checkin.selfie, client=task.client, object_type=BiometricKind.SELFIE, object_id=checkin.pk, task=task,
            face_box=match.face_box if match else None, turned_degrees=(match.detail or {}).get("turned_degrees", 0) if match else 0,
        )

    def frame_view(self, request, task_id, frame_id):
        task = self._task(request, task_id)
        frame = LivenessFrame.objects.filter(pk=frame_id, checkin_id=task.checkin_id, checkin__client_id=task.client_id).first() if task.checkin_id else None
        if frame is None:
            raise Http404
        return biometric_images.serve(
            request, file=frame.image, client=task.client, object_type=BiometricKind.LIVENESS_FRAME, object_id=frame.pk, task=task
        )

    def reference_view(self, request, task_id, photo_id):
        task = self._task(request, task_id)
        photo = ReferencePhoto.objects.filter(pk=photo_id, client_id=task.client_id).first()
        if photo is None:
            raise Http404
        return biometric_images.serve(
            request, file=photo.image, client=task.client, object_type=BiometricKind.REFERENCE_PHOTO, object_id=photo.pk, task=task,
            face_box=photo.face_box,
        )


TASK_CSV_COLUMNS = [
    ("id", "pk"),
    ("uci", "client__uci"),
    ("client", lambda t: t.client.full_name),
    ("region", "client__region__code"),
    ("reason", "reason"),
    ("priority", "priority"),
    ("status", "status"),
    ("assignee", lambda t: t.assignee.get_username() if t.assignee else ""),
    ("created_at", "created_at"),
    ("due_by", "due_by"),
    ("resolution", "resolution"),
]


def _task_zone(task: InvestigationTask) -> str:
    # The client's local zone; the task's region is the client's, already joined by the queue.
    return task.client.time_zone or task.region.time_zone


def region_name(region) -> str:
    return region.name_fr if get_language() == "fr" and region.name_fr else region.name


def _short_duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return gettext("%(n)d min") % {"n": max(0, minutes)}
    if minutes < 48 * 60:
        return gettext("%(n)d h") % {"n": minutes // 60}
    return gettext("%(n)d days") % {"n": minutes // (24 * 60)}


__all__ = ["InvestigationTaskAdmin", "CLIENT_SEARCH"]
