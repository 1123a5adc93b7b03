"""One error shape for every failure of the API:

    {"error": {"code": "machine_readable_code", "message": "text in the reader's language", "fields": {...}}}

`fields` maps an input field to what is wrong with it (empty when the error is not about one
field). Domain errors bring their own code and status; the framework's own errors get theirs here.
"""

import math

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from enforcement.errors import DomainError


class UploadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "upload_too_large"


class BodyTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "request_too_large"


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return " ".join(_flatten(value) for value in detail.values())
    if isinstance(detail, list):
        return " ".join(_flatten(value) for value in detail)
    return str(detail)


def _field_errors(detail, prefix: str = "") -> dict[str, str]:
    """Field -> message; a nested field is named by its path (`channels[1].address`), so the
    app can put the message beside the right input."""
    if isinstance(detail, dict):
        out = {}
        for name, value in detail.items():
            if isinstance(name, int):  # a list's item, as DRF reports some of them
                path = f"{prefix}[{name}]"
            else:
                path = f"{prefix}.{name}" if prefix else str(name)
            out.update(_field_errors(value, path))
        return out
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        out = {}
        for index, item in enumerate(detail):
            if item:
                out.update(_field_errors(item, f"{prefix}[{index}]"))
        return out
    return {prefix or "non_field_errors": _flatten(detail)}


# The framework's own exceptions: (class, code, message); the first match wins.
FRAMEWORK_ERRORS = [
    (exceptions.NotAuthenticated, "not_authenticated", gettext_lazy("Send the device token: Authorization: Token <token>.")),
    (exceptions.AuthenticationFailed, "invalid_token", gettext_lazy("The token is not valid. Activate the app again.")),
    (exceptions.PermissionDenied, "forbidden", gettext_lazy("You are not allowed to do this.")),
    (exceptions.NotFound, "not_found", gettext_lazy("Not found.")),
    (exceptions.MethodNotAllowed, "method_not_allowed", gettext_lazy("This method is not allowed here.")),
    (exceptions.NotAcceptable, "not_acceptable", gettext_lazy("This API answers in JSON only.")),
    (exceptions.UnsupportedMediaType, "unsupported_media_type", gettext_lazy("This content type is not accepted here.")),
    (exceptions.ParseError, "malformed_request", gettext_lazy("The request body could not be read: it is not well-formed.")),
]


def _framework(exc) -> tuple[str, str]:
    if isinstance(exc, exceptions.Throttled):
        return "throttled", _("Too many requests. Try again in %(seconds)d seconds.") % {"seconds": math.ceil(exc.wait or 1)}
    for cls, code, message in FRAMEWORK_ERRORS:
        if isinstance(exc, cls):
            return code, str(message)
    return str(exc.default_code), _flatten(exc.detail)  # e.g. upload_too_large, with its own message


def error_response(status: int, code: str, message: str, fields: dict | None = None, headers: dict | None = None) -> Response:
    response = Response({"error": {"code": code, "message": str(message), "fields": fields or {}}}, status=status, headers=headers)
    response.reportin_error_code = code  # for the request log
    return response


# How long a client is asked to wait when the database does not answer (a restart or a
# fail-over takes seconds to a minute).
UNAVAILABLE_RETRY_AFTER = 10


def unavailable_response() -> Response:
    return error_response(
        503, "service_unavailable", _("The service is briefly unavailable. Try again in a moment."),
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
    )


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception a view raises becomes the error shape."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is down or restarting: a clean 503 the phone retries (with the same
        # Idempotency-Key), never a 500. The transaction, if any, is already rolled back.
        return unavailable_response()
    set_rollback()
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if hasattr(exc, "retry_after") else None
        fields = {name: str(value) for name, value in exc.fields.items()}
        return error_response(exc.status, exc.code, exc.message, fields, headers)
    if isinstance(exc, Http404):
        return error_response(404, "not_found", _("Not found."))
    if isinstance(exc, RequestDataTooBig):
        return error_response(413, "request_too_large", _("The request is too large."))
    if isinstance(exc, SuspiciousOperation):  # e.g. too many fields or files in a form
        return error_response(400, "bad_request", _("The request was refused as malformed."))
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = _field_errors(detail)
        return error_response(400, "invalid_input", _("Some fields are missing or not valid."), fields)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(math.ceil(exc.wait))
        code, message = _framework(exc)
        return error_response(exc.status_code, code, message, headers=headers)
    return None  # a bug: Django answers 500 through handler500 below


# Django's handlers for what never reaches a DRF view: the error shape under /api/, Django's
# usual pages elsewhere (admin).


def _json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


def not_found(request, exception=None):
    if not request.path.startswith("/api/"):
        return defaults.page_not_found(request, exception)
    return _json_error(404, "not_found", _("Not found."))


def server_error(request):
    if not request.path.startswith("/api/"):
        return defaults.server_error(request)
    # Nothing about the failure goes out; the traceback is in the log.
    return _json_error(500, "server_error", _("Something went wrong on our side. Try again later."))


def bad_request(request, exception=None):
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    return _json_error(400, "bad_request", _("The request was refused as malformed."))
