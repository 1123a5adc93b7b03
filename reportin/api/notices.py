"""Notices for the person (issue 18.3): GET /api/v1/notices, POST /api/v1/notices/{id}/read.
The unread ones are also in /me (`pending_notices`), for the home screen."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response

from enforcement import services as enforcement_services
from enforcement.models import Notice
from reportin.api.docs import AUTH_ERRORS, error_responses
from reportin.api.notice_shapes import NOTICE_EXAMPLE, NoticeOutput, NoticesOutput, notice_out
from reportin.api.views import _Device


class NoticesView(_Device):
    @extend_schema(
        operation_id="notices_list",
        summary="Notices: missed windows, check-ins kept or under review, officers' decisions, remote reporting off",
        description="Newest first (the last 100), in the answer's language. Outcomes name the reason category, never a score.",
        responses={200: OpenApiResponse(NoticesOutput, examples=[OpenApiExample("notices", value={"notices": [NOTICE_EXAMPLE], "unread": 1})]),
                   **error_responses("Notices", ["throttled", *AUTH_ERRORS])},
        tags=["notices"],
    )
    def get(self, request):
        client = request.auth.client
        notices = Notice.objects.filter(client=client).select_related("client", "client__region", "window", "appointment", "appointment__office")[:100]
        body = {
            "notices": [notice_out(notice, request.LANGUAGE_CODE) for notice in notices],
            "unread": Notice.objects.filter(client=client, read_at__isnull=True).count(),
        }
        return Response(NoticesOutput(body).data)


class NoticeReadView(_Device):
    @extend_schema(
        operation_id="notice_read",
        summary="Mark a notice as read (it leaves the home screen)",
        description="It stays in GET /api/v1/notices. Another person's notice answers 404, like one that does not exist.",
        request=None,
        responses={200: OpenApiResponse(NoticeOutput, examples=[OpenApiExample("read", value={**NOTICE_EXAMPLE, "read": True})]),
                   **error_responses("NoticeRead", ["notice_not_found", "not_found", "throttled", *AUTH_ERRORS])},
        tags=["notices"],
    )
    def post(self, request, notice_id: int):
        notice = enforcement_services.notice_read(client=request.auth.client, notice_id=notice_id)
        return Response(NoticeOutput(notice_out(notice, request.LANGUAGE_CODE)).data)
