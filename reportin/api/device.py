"""DELETE /api/v1/device: the person removes ReportIn from this phone."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from reportin import services
from reportin.api.docs import AUTH_ERRORS, error_responses
from reportin.api.views import _Device


class DeviceRemovedOutput(serializers.Serializer):
    device = serializers.CharField(help_text="The name the phone was activated with.")
    removed_at = serializers.DateTimeField()


class DeviceRemoveView(_Device):
    @extend_schema(
        operation_id="device_remove",
        summary="Remove the app from this phone",
        description=(
            "The token stops working at once, on the server: a copy of it left on the phone (or in a "
            "backup) can no longer report or read anything. Officers see the device as removed by the "
            "person, not as revoked by them. To use the app again, ask your officer for a new activation code."
        ),
        request=None,
        responses={
            200: OpenApiResponse(
                DeviceRemovedOutput, description="Removed; the token no longer works.",
                examples=[OpenApiExample("removed", value={"device": "Pixel 8", "removed_at": "2026-03-02T16:20:00Z"})],
            ),
            **error_responses("DeviceRemove", ["throttled", *AUTH_ERRORS]),
        },
        tags=["profile"],
    )
    def delete(self, request):
        device = request.auth
        services.device_remove(device=device)
        return Response(DeviceRemovedOutput({"device": device.name, "removed_at": device.revoked_at}).data)
