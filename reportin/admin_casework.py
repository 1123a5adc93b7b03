"""The task page's casework (issue 17.3): the client's contact details, notes and a contact log
kept without closing the task, and "next task" in the queue's own order and filters. Mixed into
the task admin (reportin.admin_tasks); every write goes through enforcement.services, which
audits it."""

import copy
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, QueryDict
from django.urls import path, reverse
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from enforcement import selectors as enforcement_selectors
from enforcement import services as enforcement_services
from enforcement.errors import DomainError
from enforcement.models import ContactChannel, TaskNote, TaskStatus


def contact_details(client) -> dict:
    """What the task page shows of how to reach the person: their own details, the reminder
    channels they chose (current ones only) and the office they report to."""
    return {
        "channels": list(ContactChannel.objects.filter(client=client, ended_at__isnull=True).order_by("channel")),
        "office": enforcement_selectors.office_public(enforcement_selectors.office_for(client=client), get_language()),
    }


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


class TaskCaseworkAdmin:
    """URLs, page context and POST views of the task page's casework."""

    def casework_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:task_id>/note/", view(self.note_view), name="enforcement_investigationtask_note"),
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
        }

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
