"""The task page's casework (issue 17.3): the client's contact details, notes and a contact log
kept without closing the task, and "next task" in the queue's own order and filters. Mixed into
the task admin (reportin.admin_tasks); every write goes through enforcement.services, which
audits it."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from enforcement import selectors as enforcement_selectors
from enforcement import services as enforcement_services
from enforcement.errors import DomainError
from enforcement.models import ContactChannel, TaskNote


def contact_details(client) -> dict:
    """What the task page shows of how to reach the person: their own details, the reminder
    channels they chose (current ones only) and the office they report to."""
    return {
        "channels": list(ContactChannel.objects.filter(client=client, ended_at__isnull=True).order_by("channel")),
        "office": enforcement_selectors.office_public(enforcement_selectors.office_for(client=client), get_language()),
    }


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
        return [path("<int:task_id>/note/", view(self.note_view), name="enforcement_investigationtask_note")]

    def casework_context(self, request, task, *, can_change: bool) -> dict:
        return {
            "contact": contact_details(task.client),
            "note_form": NoteForm() if can_change else None,
        }

    def note_view(self, request, task_id):
        task = self._task(request, task_id)
        back = reverse("admin:enforcement_investigationtask_change", args=[task.pk]) + "#notes"
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
