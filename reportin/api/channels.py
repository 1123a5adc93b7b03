"""The person's channels for reminders and notices (GET/PUT /api/v1/channels), and GC Notify's
delivery receipts (POST /api/v1/notify/receipts)."""

import hmac

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from enforcement import notifications
from enforcement import services as enforcement_services
from enforcement.models import Channel, ContactChannel, Language, NotifyChannel
from reportin.api.docs import AUTH_ERRORS, BODY_ERRORS, error_responses
from reportin.api.serializers import ChannelChoice, StrictSerializer
from reportin.api.uploads import CappedJSONParser
from reportin.api.views import _Device


class ChannelsInput(StrictSerializer):
    channels = ChannelChoice(many=True, max_length=3)
    language = serializers.ChoiceField(choices=Language.choices, help_text="The language of the consent texts the person read.")


class ChosenOutput(serializers.Serializer):
    channel = serializers.CharField()
    address = serializers.CharField(help_text="SMS: the number, all but the last 3 digits hidden.")
    chosen_at = serializers.DateTimeField()
    consent_language = serializers.CharField()


class AvailableOutput(serializers.Serializer):
    channel = serializers.CharField()
    name = serializers.CharField()
    consent_text = serializers.CharField()


class ChannelsOutput(serializers.Serializer):
    channels = ChosenOutput(many=True)
    available = AvailableOutput(many=True)
    vapid_public_key = serializers.CharField(help_text="For PushManager.subscribe({applicationServerKey}).")


def _masked(value: str) -> str:
    return "•" * max(0, len(value) - 3) + value[-3:] if value else ""


def _channels_out(client, language: str) -> dict:
    rows = ContactChannel.objects.filter(client=client, ended_at__isnull=True).order_by("channel")
    return {
        "channels": [
            {"channel": row.channel, "address": _masked(row.address), "chosen_at": row.chosen_at, "consent_language": row.consent_language}
            for row in rows
        ],
        "available": [
            {"channel": value, "name": str(label), "consent_text": notifications.consent_text(value, language)}
            for value, label in NotifyChannel.choices
        ],
        "vapid_public_key": settings.REPORTIN_VAPID_PUBLIC_KEY,
    }


_EXAMPLE = {
    "channels": [
        {"channel": "sms", "address": "•••••••••123", "chosen_at": "2026-03-01T14:05:00Z", "consent_language": "en"},
        {"channel": "push", "address": "", "chosen_at": "2026-03-01T14:05:00Z", "consent_language": "en"},
    ],
    "available": [{"channel": "sms", "name": "Text message (SMS)", "consent_text": "I agree that the CBSA sends me reminders…"}],
    "vapid_public_key": "BOr6…",
}


class ChannelsView(_Device):
    @extend_schema(
        operation_id="channels_get",
        summary="The channels chosen for reminders and notices",
        description="With the consent text of each channel in the answer's language, and the VAPID key for push.",
        responses={200: OpenApiResponse(ChannelsOutput, examples=[OpenApiExample("chosen", value=_EXAMPLE)]), **error_responses("ChannelsGet", ["throttled", *AUTH_ERRORS])},
        tags=["profile"],
    )
    def get(self, request):
        return Response(ChannelsOutput(_channels_out(request.auth.client, request.LANGUAGE_CODE)).data)

    @extend_schema(
        operation_id="channels_set",
        summary="Choose the channels for reminders and notices",
        description=(
            "The whole choice at once: a channel left out is ended. Each choice records the person's consent "
            "(the channel's consent text in `language`, as shown by GET). An empty list means email only. "
            "Reminders already queued follow the new choice."
        ),
        request=ChannelsInput,
        responses={200: OpenApiResponse(ChannelsOutput, examples=[OpenApiExample("chosen", value=_EXAMPLE)]), **error_responses("ChannelsSet", ["invalid_input", "throttled", *AUTH_ERRORS, *BODY_ERRORS])},
        examples=[
            OpenApiExample(
                "sms and push",
                value={"language": "en", "channels": [
                    {"channel": "sms", "address": "+16135550123"},
                    {"channel": "push", "push_endpoint": "https://fcm.googleapis.com/fcm/send/…", "push_p256dh": "BNc…", "push_auth": "tBH…"},
                ]},
                request_only=True,
            )
        ],
        tags=["profile"],
    )
    def put(self, request):
        serializer = ChannelsInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        client = request.auth.client
        enforcement_services.contact_channels_set(
            client=client, channels=[dict(item) for item in data["channels"]], language=data["language"], recorded_via=Channel.APP
        )
        return Response(ChannelsOutput(_channels_out(client, request.LANGUAGE_CODE)).data)


class ReceiptInput(serializers.Serializer):
    """GC Notify's delivery receipt (its callback payload); other fields are ignored."""

    id = serializers.CharField(max_length=200)
    status = serializers.CharField(max_length=64)
    status_description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    provider_response = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=500)


class ReceiptOutput(serializers.Serializer):
    recorded = serializers.BooleanField()


# GC Notify's final statuses: delivered, or a failure whose description is kept as the reason.
FAILED_STATUSES = {"permanent-failure", "temporary-failure", "technical-failure", "failed"}


class NotifyReceiptView(APIView):
    """GC Notify posts a receipt here when a text message is delivered or fails."""

    authentication_classes = []
    permission_classes = []
    parser_classes = [CappedJSONParser]

    def get_authenticate_header(self, request):
        return "Bearer"  # so that a refused token answers 401, not 403

    @extend_schema(
        operation_id="notify_receipt",
        summary="GC Notify delivery receipts (called by GC Notify, not by the app)",
        description="Authorization: Bearer <GC_NOTIFY_CALLBACK_TOKEN>, the token configured for the service's callbacks.",
        request=ReceiptInput,
        responses={
            200: OpenApiResponse(
                ReceiptOutput, description="`recorded` is false for a receipt of no message of ours, or not final yet.",
                examples=[OpenApiExample("recorded", value={"recorded": True})],
            ),
            **error_responses("NotifyReceipt", ["invalid_input", "invalid_token", *BODY_ERRORS]),
        },
        examples=[OpenApiExample("delivered", value={
            "id": "740e5834-3a29-46b4-9a6f-16142fde0ec6", "reference": "reportin-notification-812", "to": "+16135550123",
            "status": "delivered", "status_description": "Delivered", "provider_response": None, "notification_type": "sms",
        }, request_only=True)],
        tags=["providers"],
    )
    def post(self, request):
        from rest_framework.exceptions import AuthenticationFailed

        expected = settings.GC_NOTIFY_CALLBACK_TOKEN
        given = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise AuthenticationFailed(_("The token is not valid."), code="invalid_token")
        serializer = ReceiptInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        recorded = False
        if data["status"] == "delivered":
            recorded = enforcement_services.notification_receipt(provider_reference=data["id"], delivered=True)
        elif data["status"] in FAILED_STATUSES:
            reason = f"GC Notify {data['status']}: {data.get('status_description') or ''} {data.get('provider_response') or ''}".strip()
            recorded = enforcement_services.notification_receipt(provider_reference=data["id"], delivered=False, reason=reason)
        return Response({"recorded": recorded})
