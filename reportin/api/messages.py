"""Messages between the person and their officers (issue 18.4): GET and POST /api/v1/messages,
POST /api/v1/messages/{id}/read. A person sees only their own messages; an id of anyone
else's answers 404, like one that does not exist."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from enforcement import messages as message_services
from enforcement.models import AttachmentKind, Message, MessageDirection
from reportin.api.docs import AUTH_ERRORS, error_responses
from reportin.api.serializers import CleanTextField, StrictSerializer
from reportin.api.uploads import cap_uploads
from reportin.api.views import _Device, _validated

# --- Shapes and their examples ---------------------------------------------------------------


class MessageInput(StrictSerializer):
    body = CleanTextField(max_length=message_services.MAX_BODY_CHARS, help_text="The message, 1 to 2,000 characters.")
    attachment = serializers.FileField(
        allow_empty_file=True, max_length=255, required=False,
        help_text="Optional: a photo (JPEG, PNG, HEIC or WEBP; kept as a JPEG without its metadata) or a PDF of at most 5 MB.",
    )
    about = serializers.CharField(
        max_length=40, required=False,
        help_text="What the message answers: `notice:<id>` (the notice's explain or contest action), `window:<id>` "
        "(a missed window) or `check_in:<id>` (a check-in you were told about). Your words then go to an officer's task.",
    )


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    direction = serializers.ChoiceField(choices=MessageDirection.values, help_text="to_officer: you wrote it; to_person: an officer did.")
    body = serializers.CharField()
    attachment = serializers.ChoiceField(choices=AttachmentKind.values, allow_null=True, help_text="photo, pdf or null.")
    about = serializers.CharField(allow_null=True, help_text="notice:<id>, window:<id>, check_in:<id> or null.")
    created_at = serializers.DateTimeField()
    read = serializers.BooleanField(help_text="Read by the side it was written to.")


class MessagesOutput(serializers.Serializer):
    results = MessageOutput(many=True)
    next_before = serializers.IntegerField(allow_null=True, help_text="Pass as `before` for the next page; null on the last.")
    unread = serializers.IntegerField(help_text="Officers' messages you have not marked read.")


class MessageListQuery(StrictSerializer):
    before = serializers.IntegerField(min_value=1, max_value=10**18, required=False, help_text="Only messages with a smaller id (next page).")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


MESSAGE_EXAMPLE = {
    "id": 310, "direction": "to_person", "body": "Thank you for explaining. Please check in as soon as you can today.",
    "attachment": None, "about": None, "created_at": "2026-03-03T15:02:00Z", "read": False,
}
SENT_EXAMPLE = {
    "id": 311, "direction": "to_officer", "body": "I was in hospital on Monday; the discharge letter is attached.",
    "attachment": "pdf", "about": "notice:41", "created_at": "2026-03-03T15:10:00Z", "read": False,
}
SEND_EXAMPLE = OpenApiExample(
    "explain a missed window",
    value={"body": SENT_EXAMPLE["body"], "attachment": "(PDF bytes)", "about": "notice:41"},
    request_only=True, media_type="multipart/form-data",
)


def _about(message: Message) -> str | None:
    if message.notice_id is not None:
        return f"notice:{message.notice_id}"
    if message.window_id is not None:
        return f"window:{message.window_id}"
    return None if message.checkin_id is None else f"check_in:{message.checkin_id}"


def message_out(message: Message) -> dict:
    return {
        "id": message.pk, "direction": message.direction, "body": message.body, "attachment": message.attachment_kind or None,
        "about": _about(message), "created_at": message.created_at, "read": message.read_at is not None,
    }


def unread_from_officers(client) -> int:
    return message_services.unread_count(client=client, direction=MessageDirection.TO_PERSON)


# --- Views: one per operation ----------------------------------------------------------------


class MessageListView(_Device):
    @extend_schema(
        operation_id="messages_list",
        summary="My messages with my officers, newest first",
        description="Both directions, paged by id like the check-ins; `unread` counts the officers' messages not marked read.",
        parameters=[MessageListQuery],
        responses={
            200: OpenApiResponse(MessagesOutput, examples=[OpenApiExample("page", value={"results": [MESSAGE_EXAMPLE], "next_before": None, "unread": 1})]),
            **error_responses("MessagesList", ["invalid_input", "bad_request", "throttled", *AUTH_ERRORS]),
        },
        tags=["messages"],
    )
    def get(self, request):
        query = _validated(MessageListQuery, request.query_params)
        client = request.auth.client
        found = Message.objects.filter(client=client).order_by("-id")
        if "before" in query:
            found = found.filter(id__lt=query["before"])
        page = list(found[: query["limit"] + 1])
        more = len(page) > query["limit"]
        page = page[: query["limit"]]
        body = {"results": [message_out(m) for m in page], "next_before": page[-1].pk if more else None, "unread": unread_from_officers(client)}
        return Response(MessagesOutput(body).data)


class MessageSendView(_Device):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="message_send",
        summary="Write to my officers: a question, or an answer to a notice",
        description=(
            "Multipart form. With `about` the message explains a missed window or contests a result: it goes, "
            "with your words, to the officer's task about it (one is opened if needed). A photo attachment is "
            "checked like a selfie and kept without its metadata; a PDF must start with %PDF- and end with %%EOF."
        ),
        request={"multipart/form-data": MessageInput},
        responses={
            201: OpenApiResponse(MessageOutput, examples=[OpenApiExample("sent", value=SENT_EXAMPLE)]),
            **error_responses(
                "MessageSend",
                [
                    "invalid_input", "malformed_request", "bad_request", "invalid_about", "empty_file", "invalid_image",
                    "image_too_large", "animated_image", "invalid_pdf", "upload_too_large", "attachment_too_large",
                    "request_too_large", "unsupported_media_type", "not_an_image", "unsupported_image_type",
                    "unsupported_attachment", "throttled", *AUTH_ERRORS,
                ],
            ),
        },
        examples=[SEND_EXAMPLE],
        tags=["messages"],
    )
    def post(self, request):
        cap_uploads(request)
        data = _validated(MessageInput, request.data)
        attachment = data.get("attachment")
        message = message_services.message_send_by_person(
            client=request.auth.client, device_id=request.auth.pk, body=data["body"],
            attachment=None if attachment is None else attachment.read(), about=data.get("about"),
        )
        return Response(MessageOutput(message_out(message)).data, status=201)


class MessagesView(MessageListView, MessageSendView):
    """/api/v1/messages serves two operations (GET lists, POST sends), each its own view above."""

    parser_classes = MessageSendView.parser_classes


class MessageReadView(_Device):
    @extend_schema(
        operation_id="message_read",
        summary="Mark an officer's message as read",
        description="Its notice leaves the home screen too. Your own messages, and anyone else's, answer 404.",
        parameters=[
            OpenApiParameter("message_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The message's id.",
                             examples=[OpenApiExample("id", value=310)]),
        ],
        request=None,
        responses={
            200: OpenApiResponse(MessageOutput, examples=[OpenApiExample("read", value={**MESSAGE_EXAMPLE, "read": True})]),
            **error_responses("MessageRead", ["message_not_found", "not_found", "throttled", *AUTH_ERRORS]),
        },
        tags=["messages"],
    )
    def post(self, request, message_id: int):
        message = message_services.message_mark_read(client=request.auth.client, message_id=message_id)
        return Response(MessageOutput(message_out(message)).data)
