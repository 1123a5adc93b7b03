"""Messages in the back office (issue 18.4): the Messages section of the task page and of the
client's page (the client's messages, unread count, a form to write to the person with an
optional photo or PDF, the person's messages marked read) and the permission-checked view of
an attachment. Every write goes through enforcement.messages, which audits it."""

from django import forms
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from enforcement import crypto, roles
from enforcement import messages as message_services
from enforcement import services as enforcement_services
from enforcement.errors import DomainError
from enforcement.models import AttachmentKind, Message, MessageDirection

MESSAGES_SHOWN = 20


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message to the person"), max_length=message_services.MAX_BODY_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("The person reads it in the app; their phone only says that a message is waiting."),
    )
    attachment = forms.FileField(label=_("Photo or PDF (optional)"), required=False)


def section(*, request, client, may_write: bool, post_url: str, attachment_url: str, owner_id: int, task=None) -> dict:
    """The template's `message_section`: the client's latest messages and what the user may do.
    `attachment_url` names the URL of an attachment, reversed with (owner_id, message id)."""
    return {
        "items": list(Message.objects.filter(client=client).select_related("author").order_by("-id")[:MESSAGES_SHOWN]),
        "unread": message_services.unread_count(client=client, direction=MessageDirection.TO_OFFICER),
        "form": MessageForm() if may_write and not roles.is_auditor(request.user) else None,
        "post_url": post_url,
        "attachment_url": attachment_url,
        "owner_id": owner_id,
        "task_id": task.pk if task is not None else None,
    }


def post(request, *, client, back: str, task=None) -> HttpResponseRedirect:
    """POST of the section's forms: write to the person (op=send) or mark the person's
    messages read (op=read). The caller has checked that the user may change this page."""
    try:
        if request.POST.get("op") == "read":
            unread = Message.objects.filter(client=client, direction=MessageDirection.TO_OFFICER, read_at__isnull=True)
            for message_id in unread.values_list("pk", flat=True):
                message_services.message_mark_read(client=client, message_id=message_id, reader=request.user)
            flash.success(request, gettext("The person's messages are marked read."))
            return HttpResponseRedirect(back)
        form = MessageForm(request.POST, request.FILES)
        if not form.is_valid():
            reason = " ".join(error for errors in form.errors.values() for error in errors)
            flash.error(request, gettext("The message was not sent: %(reason)s") % {"reason": reason})
            return HttpResponseRedirect(back)
        attachment = form.cleaned_data["attachment"]
        message_services.message_send_by_officer(
            client=client, officer=request.user, body=form.cleaned_data["body"], task=task,
            attachment=None if attachment is None else attachment.read(),
        )
    except DomainError as exc:
        if exc.status == 403:
            raise PermissionDenied from None
        flash.error(request, gettext("The message was not sent: %(reason)s") % {"reason": exc.message})
        return HttpResponseRedirect(back)
    flash.success(request, gettext("The message was sent; the person is told that it is waiting."))
    return HttpResponseRedirect(back)


def attachment(request, *, client, message_id: int, task=None) -> HttpResponse:
    """A message's attachment, decrypted for its own row only; each opening is audited."""
    message = Message.objects.filter(pk=message_id, client=client).exclude(attachment="").first()
    if message is None:
        raise Http404
    try:
        with message.attachment.open("rb") as handle:
            data = handle.read()
    except crypto.DecryptionError:
        return HttpResponse(gettext("This file does not open for its message."), status=409, content_type="text/plain; charset=utf-8")
    enforcement_services.audit_record(
        actor=request.user, action="message.attachment_view", obj=message, client=client,
        details={"task_id": task.pk} if task is not None else {},
    )
    photo = message.attachment_kind == AttachmentKind.PHOTO
    response = HttpResponse(data, content_type="image/jpeg" if photo else "application/pdf")
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    # A PDF is downloaded, never opened in the back office's own origin.
    response["Content-Disposition"] = "inline" if photo else f'attachment; filename="message-{message.pk}.pdf"'
    return response


# --- Mixed into the task admin and the client admin ------------------------------------------


class TaskMessagesAdmin:
    """The task page's Messages section: its URLs, its POST view and its attachments."""

    def message_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:task_id>/message/", view(self.message_view), name="enforcement_investigationtask_message"),
            path(
                "<int:task_id>/message/<int:message_id>/attachment/", view(self.message_attachment_view),
                name="enforcement_investigationtask_message_attachment",
            ),
        ]

    def message_section(self, request, task) -> dict:
        return section(
            request=request, client=task.client, may_write=self.has_change_permission(request, task), task=task,
            post_url=reverse("admin:enforcement_investigationtask_message", args=[task.pk]),
            attachment_url="admin:enforcement_investigationtask_message_attachment", owner_id=task.pk,
        )

    def message_view(self, request, task_id):
        task = self._task(request, task_id)
        back = reverse("admin:enforcement_investigationtask_change", args=[task.pk]) + "#messages"
        if request.method != "POST":
            return HttpResponseRedirect(back)
        if not self.has_change_permission(request, task):
            raise PermissionDenied
        return post(request, client=task.client, back=back, task=task)

    def message_attachment_view(self, request, task_id, message_id):
        task = self._task(request, task_id)
        return attachment(request, client=task.client, message_id=message_id, task=task)


class ClientMessagesAdmin:
    """The client page's Messages section (the case view): the same, for any message of theirs."""

    def message_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:client_id>/message/", view(self.message_view), name="enforcement_client_message"),
            path(
                "<int:client_id>/message/<int:message_id>/attachment/", view(self.message_attachment_view),
                name="enforcement_client_message_attachment",
            ),
        ]

    def message_section(self, request, client) -> dict:
        return section(
            request=request, client=client, may_write=self.has_change_permission(request, client),
            post_url=reverse("admin:enforcement_client_message", args=[client.pk]),
            attachment_url="admin:enforcement_client_message_attachment", owner_id=client.pk,
        )

    def message_view(self, request, client_id):
        client = self._client_for_change(request, client_id)
        back = reverse("admin:enforcement_client_change", args=[client.pk]) + "#messages"
        if request.method != "POST":
            return HttpResponseRedirect(back)
        return post(request, client=client, back=back)

    def message_attachment_view(self, request, client_id, message_id):
        client = get_object_or_404(self.get_queryset(request), pk=client_id)
        if not self.has_view_permission(request, client):
            raise PermissionDenied
        return attachment(request, client=client, message_id=message_id)
