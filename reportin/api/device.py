"""DELETE /api/v1/device: the person removes ReportIn from this phone."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from reportin import services
from reportin.api.docs import AUTH_ERRORS, error_responses
from reportin.api.views import _Device


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
            204: OpenApiResponse(description="Removed; the token no longer works."),
            **error_responses("DeviceRemove", ["throttled", *AUTH_ERRORS]),
        },
        tags=["profile"],
    )
    def delete(self, request):
        services.device_remove(device=request.auth)
        return Response(status=204)
