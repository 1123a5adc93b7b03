"""The task page's casework (issue 17.3): the client's contact details, notes and a contact log
kept without closing the task, "save and next" and next/previous task in the queue's own order
and filters, and the case view (one person's open tasks decided together). Mixed into the task
admin (backoffice.admin_tasks); every write goes through a service that audits it
(enforcement.services.task_note_add, reportin.services.task_decide)."""

import copy
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _

from enforcement import biometric_images
from enforcement import selectors as enforcement_selectors
from enforcement import services as enforcement_services
from enforcement.errors import DomainError
from enforcement.models import BlindAnswer, ContactChannel, InvestigationTask, TaskNote, TaskResolution, TaskStatus
from reportin import services


def contact_details(client) -> dict:
    """What the task page shows of how to reach the person: their own details, the reminder
    channels they chose (current ones only), the office they report to, and the reminders and
    messages sent to them (each with its channel, status, time and, if it did not go, why)."""
    return {
        "channels": list(ContactChannel.objects.filter(client=client, ended_at__isnull=True).order_by("channel")),
        "office": enforcement_selectors.office_public(enforcement_selectors.office_for(client=client), get_language()),
        "outbox": enforcement_selectors.outbox_history(client=client),
        "outbox_length": enforcement_selectors.OUTBOX_HISTORY_LENGTH,
    }


# --- Shared with the task page's decisions


def resolution_choices(task: InvestigationTask) -> list[tuple[str, str]]:
    choices = [(value, label) for value, label in TaskResolution.choices if value not in enforcement_services.OFFICER_EXCLUDED_RESOLUTIONS]
    if task.checkin_id is None:
        choices = [(v, label) for v, label in choices if v not in enforcement_services.IDENTITY_RESOLUTIONS]
    return [("", "---------"), *choices]


def blind_look(task: InvestigationTask, user) -> tuple[bool, BlindAnswer | None]:
    """Whether `user` still owes the task's blind first look (issue 17.4: the photos and "same
    person?" before the comparison's figures, for settings.REPORTIN_BLIND_REVIEW_REASONS), and
    their answer if given."""
    if task.checkin_id is None:
        return False, None
    answer = BlindAnswer.objects.filter(task=task, officer=user).first()
    pending = (
        answer is None and task.status != TaskStatus.RESOLVED and task.reason in settings.REPORTIN_BLIND_REVIEW_REASONS
        and biometric_images.may_view(user, task.client)
    )
    return pending, answer


def queue_filters(request) -> str:
    """The queue's query string the task page was opened with (Django admin's preserved filters),
    from the page's address or from a form posted from it."""
    return request.POST.get("_changelist_filters") or request.GET.get("_changelist_filters", "")


def queue_url(filters: str) -> str:
    """The queue with its filters, search and order as the officer left it."""
    return reverse("admin:enforcement_investigationtask_changelist") + (f"?{filters}" if filters else "")


def queue_query(filters: str) -> str:
    return "?" + urlencode({"_changelist_filters": filters}) if filters else ""


class NoteForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Add"), initial=TaskNote.Kind.NOTE, widget=forms.RadioSelect,
        choices=[(TaskNote.Kind.NOTE, _("A note")), (TaskNote.Kind.CONTACT, _("A contact attempt"))],
    )
    channel = forms.ChoiceField(
        label=_("How (for a contact attempt)"), required=False, choices=[("", "---------"), *TaskNote.ContactMethod.choices],
    )
    text = forms.CharField(
        label=_("Note, or what came of the attempt"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


class CaseResolveForm(forms.Form):
    """One decision for several open tasks of the same person (the case view)."""

    tasks = forms.ModelMultipleChoiceField(
        label=_("Tasks this decision settles"), queryset=InvestigationTask.objects.none(), widget=forms.CheckboxSelectMultiple,
    )
    resolution = forms.ChoiceField(label=_("Resolution"))
    note = forms.CharField(
        label=_("Note"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("What you checked and why you decided so. Kept with each task's decision."),
    )

    def __init__(self, *args, tasks: list[InvestigationTask], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tasks"].queryset = InvestigationTask.objects.filter(pk__in=[t.pk for t in tasks])
        self.fields["tasks"].label_from_instance = lambda task: f"{task.get_reason_display()} ({gettext('task %(id)d') % {'id': task.pk}})"
        self.fields["tasks"].initial = [t.pk for t in tasks]
        # Only what every one of them may be resolved as (no identity answer for a task without a check-in).
        allowed = set.intersection(*(set(dict(resolution_choices(t))) for t in tasks)) if tasks else set()
        self.fields["resolution"].choices = [(v, label) for v, label in resolution_choices(tasks[0]) if v in allowed]


class TaskCaseworkAdmin:
    """URLs, page context and POST views of the task page's casework."""

    def casework_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:task_id>/note/", view(self.note_view), name="enforcement_investigationtask_note"),
            path("<int:task_id>/case/", view(self.case_view), name="enforcement_investigationtask_case"),
            path("<int:task_id>/next/", view(self.neighbour_view), {"step": 1}, name="enforcement_investigationtask_next"),
            path("<int:task_id>/previous/", view(self.neighbour_view), {"step": -1}, name="enforcement_investigationtask_previous"),
        ]

    def casework_context(self, request, task, *, can_change: bool) -> dict:
        filters = queue_filters(request)
        return {
            "contact": contact_details(task.client),
            # Its own ids: the decision forms have a "kind" and a "note" too.
            "note_form": NoteForm(auto_id="note-%s") if can_change else None,
            "changelist_filters": filters,
            "queue_query": queue_query(filters),
            "case_open_count": self.case_tasks(request, task).count(),
        }

    # --- the case view: one person's open tasks, decided together

    def case_tasks(self, request, task):
        """The open tasks of the task's person that the user may see, by the queue's order."""
        return self.get_queryset(request).filter(client_id=task.client_id).exclude(status=TaskStatus.RESOLVED).order_by(*self.ordering)

    def case_view(self, request, task_id):
        task = self._task(request, task_id)
        filters = queue_filters(request)
        user = request.user
        tasks = list(self.case_tasks(request, task).select_related("client", "client__region", "assignee"))
        # A task whose blind first look the officer still owes is answered on its own page first.
        blind = {t.pk for t in tasks if blind_look(t, user)[0]}
        decidable = [t for t in tasks if t.pk not in blind and self.has_change_permission(request, t)]
        form = None
        if decidable:
            form = CaseResolveForm(request.POST if request.method == "POST" else None, tasks=decidable)
        if request.method == "POST":
            if form is None:
                raise PermissionDenied
            if form.is_valid():
                chosen = list(form.cleaned_data["tasks"].select_related("client"))
                resolution, note = form.cleaned_data["resolution"], form.cleaned_data["note"]
                try:
                    # All or none: one refused decision leaves every task as it was.
                    with transaction.atomic():
                        for each in chosen:
                            services.task_decide(task=each, resolution=resolution, note=note, officer=user)
                except DomainError as exc:
                    messages.error(request, gettext("Nothing was resolved: %(reason)s") % {"reason": exc.message})
                    return HttpResponseRedirect(request.get_full_path())
                messages.success(request, ngettext(
                    "%(n)d task resolved: %(resolution)s.", "%(n)d tasks resolved: %(resolution)s.", len(chosen),
                ) % {"n": len(chosen), "resolution": TaskResolution(resolution).label})
                return HttpResponseRedirect(queue_url(filters))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Open tasks of %(person)s") % {"person": task.client.full_name},
            "opts": self.model._meta,
            "task": task,
            "tasks": tasks,
            "blind": blind,
            "form": form,
            "queue_query": queue_query(filters),
            "time_zone": task.client.local_time_zone,
        }
        return TemplateResponse(request, "admin/enforcement/investigationtask/case.html", context)

    # --- "next task": the queue as the officer left it

    def queue_neighbour(self, request, task, *, filters: str, step: int = 1) -> int | None:
        """The id of the open task after (step 1) or before (step -1) `task` in the queue as the
        officer sees it: the changelist's own filters, search and order, read from `filters` (the
        admin's preserved `_changelist_filters`). After the last one: none. A task the filters
        leave out is followed by the queue's first open task."""
        queue_request = copy.copy(request)
        queue_request.GET = QueryDict(filters)
        try:
            changelist = self.get_changelist_instance(queue_request)
        except IncorrectLookupParameters:
            return None
        # The queue's rows in its order, read until the task is passed: the cost grows with the
        # task's place in the queue, not with the size of the table beyond it.
        before = first = None
        seen = False
        for pk, status in changelist.queryset.values_list("pk", "status").iterator(chunk_size=2000):
            if pk == task.pk:
                if step < 0:
                    return before
                seen = True
            elif status != TaskStatus.RESOLVED:
                if seen:
                    return pk
                before, first = pk, first or pk
        return first if step > 0 and not seen else None

    def queue_next_redirect(self, request, *, filters: str, next_id: int | None) -> HttpResponseRedirect:
        """To the task `next_id` with the queue's filters kept, else back to the queue as it was."""
        if next_id is None:
            messages.info(request, gettext("No more open tasks in this queue."))
            return HttpResponseRedirect(queue_url(filters))
        return HttpResponseRedirect(reverse("admin:enforcement_investigationtask_change", args=[next_id]) + queue_query(filters))

    def neighbour_view(self, request, task_id, step):
        task = self._task(request, task_id)
        filters = queue_filters(request)
        return self.queue_next_redirect(request, filters=filters, next_id=self.queue_neighbour(request, task, filters=filters, step=step))

    def note_view(self, request, task_id):
        task = self._task(request, task_id)
        back = reverse("admin:enforcement_investigationtask_change", args=[task.pk]) + queue_query(queue_filters(request)) + "#notes"
        if request.method != "POST":
            return HttpResponseRedirect(back)
        if not self.has_change_permission(request, task):
            raise PermissionDenied
        form = NoteForm(request.POST)
        if not form.is_valid():
            reason = " ".join(error for errors in form.errors.values() for error in errors)
            messages.error(request, gettext("Nothing was added: %(reason)s") % {"reason": reason})
            return HttpResponseRedirect(back)
        try:
            note = enforcement_services.task_note_add(
                task=task, author=request.user, kind=form.cleaned_data["kind"], text=form.cleaned_data["text"],
                channel=form.cleaned_data["channel"],
            )
        except DomainError as exc:
            if exc.status == 403:
                raise PermissionDenied from None
            messages.error(request, gettext("Nothing was added: %(reason)s") % {"reason": exc.message})
            return HttpResponseRedirect(back)
        messages.success(request, gettext("Contact attempt logged.") if note.kind == TaskNote.Kind.CONTACT else gettext("Note added."))
        return HttpResponseRedirect(back)
