"""Messages on the officers' task page (issue 18.4): the client's messages, a form to write to
the person (with an optional photo or PDF), the person's messages marked read, and their
attachments opened through a permission-checked view. Every write goes through
enforcement.messages, which audits it."""

from django import forms
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from enforcement import crypto
from enforcement import messages as message_services
from enforcement import services as enforcement_services
from enforcement.errors import DomainError
from enforcement.models import AttachmentKind, Message, MessageDirection


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message to the person"), max_length=message_services.MAX_BODY_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("The person reads it in the app; their phone only says that a message is waiting."),
    )
    attachment = forms.FileField(label=_("Photo or PDF (optional)"), required=False)


class TaskMessagesAdmin:
    """Mixed into the task admin: the URLs and views of the page's Messages section."""

    def message_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:task_id>/message/", view(self.message_view), name="enforcement_investigationtask_message"),
            path(
                "<int:task_id>/message/<int:message_id>/attachment/", view(self.message_attachment_view),
                name="enforcement_investigationtask_message_attachment",
            ),
        ]

    def message_view(self, request, task_id):
        """POST: write to the person (op=send) or mark the person's messages read (op=read)."""
        task = self._task(request, task_id)
        here = reverse("admin:enforcement_investigationtask_change", args=[task.pk]) + "#messages"
        if request.method != "POST":
            return HttpResponseRedirect(here)
        if not self.has_change_permission(request, task):
            raise PermissionDenied
        try:
            if request.POST.get("op") == "read":
                unread = Message.objects.filter(client=task.client, direction=MessageDirection.TO_OFFICER, read_at__isnull=True)
                for message_id in unread.values_list("pk", flat=True):
                    message_services.message_mark_read(client=task.client, message_id=message_id, reader=request.user)
                flash.success(request, gettext("The person's messages are marked read."))
                return HttpResponseRedirect(here)
            form = MessageForm(request.POST, request.FILES)
            if not form.is_valid():
                flash.error(request, gettext("The message was not sent: %(reason)s") % {"reason": " ".join(e for errors in form.errors.values() for e in errors)})
                return HttpResponseRedirect(here)
            attachment = form.cleaned_data["attachment"]
            message_services.message_send_by_officer(
                client=task.client, officer=request.user, body=form.cleaned_data["body"], task=task,
                attachment=None if attachment is None else attachment.read(),
            )
        except DomainError as exc:
            if exc.status == 403:
                raise PermissionDenied from None
            flash.error(request, gettext("The message was not sent: %(reason)s") % {"reason": exc.message})
            return HttpResponseRedirect(here)
        flash.success(request, gettext("The message was sent; the person is told that it is waiting."))
        return HttpResponseRedirect(here)

    def message_attachment_view(self, request, task_id, message_id):
        task = self._task(request, task_id)
        message = Message.objects.filter(pk=message_id, client_id=task.client_id).exclude(attachment="").first()
        if message is None:
            raise Http404
        try:
            with message.attachment.open("rb") as handle:  # decrypted for its own record only
                data = handle.read()
        except crypto.DecryptionError:
            return HttpResponse(gettext("This file does not open for its message."), status=409, content_type="text/plain; charset=utf-8")
        enforcement_services.audit_record(
            actor=request.user, action="message.attachment_view", obj=message, client=task.client, details={"task_id": task.pk},
        )
        photo = message.attachment_kind == AttachmentKind.PHOTO
        response = HttpResponse(data, content_type="image/jpeg" if photo else "application/pdf")
        response["Cache-Control"] = "no-store, private"
        response["X-Content-Type-Options"] = "nosniff"
        # A PDF is downloaded, never opened in the admin's own origin.
        response["Content-Disposition"] = "inline" if photo else f'attachment; filename="message-{message.pk}.pdf"'
        return response
