"""OpenAPI documentation helpers: the token scheme, the one error component every error answer
uses, each operation's error responses (its codes named in the description, one example per
code), and a schema hook that documents Retry-After on every 429 and 503."""

from collections import defaultdict

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

# code -> (status, example message). The one catalogue of the API's error codes.
ERROR_CODES = {
    "invalid_input": (400, "Some fields are missing or not valid."),
    "malformed_request": (400, "The request body could not be read: it is not well-formed."),
    "bad_request": (400, "The request was refused as malformed."),
    "activation_failed": (400, "The activation code, UCI or date of birth is not right, or the code has expired."),
    "unknown_text_version": (400, "This consent text version does not exist."),
    "idempotency_key_required": (400, "Send an Idempotency-Key header: a new random value per check-in, the same on retries."),
    "invalid_idempotency_key": (400, "The Idempotency-Key must be 1 to 128 visible ASCII characters."),
    "empty_file": (400, "The photo is empty."),
    "invalid_image": (400, "The photo could not be read; it may be damaged or incomplete."),
    "image_too_large": (400, "The photo has too many pixels; at most 40 megapixels are accepted."),
    "animated_image": (400, "Animated images are not accepted; send a single photo."),
    "not_authenticated": (401, "Send the device token: Authorization: Token <token>."),
    "invalid_token": (401, "The token is not valid. Activate the app again."),
    "liveness_required": (400, "Answer the liveness challenge: ask for one, turn your head as it says and send the frames with your report."),
    "challenge_invalid": (400, "This challenge is unknown. Ask for a new one."),
    "challenge_expired": (400, "This challenge has expired: the frames must be sent within 120 seconds. Ask for a new one."),
    "consent_required": (403, "Remote reporting needs both consents. Please report in person at your CBSA office, or give consent in the app."),
    "not_found": (404, "Not found."),
    "checkin_not_found": (404, "Not found."),
    "notice_not_found": (404, "Not found."),
    "message_not_found": (404, "Not found."),
    "consent_text_not_found": (404, "There is no consent text for this kind and language."),
    "text_version_outdated": (409, "A newer version of this consent text has been published; read it before giving consent."),
    "challenge_used": (409, "This challenge was used already. Ask for a new one."),
    "idempotency_key_reused": (409, "This Idempotency-Key was already used for a different check-in."),
    "upload_too_large": (413, "The photo is larger than 10 MB."),
    "request_too_large": (413, "The request is too large."),
    "invalid_about": (400, "There is nothing of yours with this reference to answer."),
    "invalid_pdf": (400, "The PDF is incomplete or damaged."),
    "attachment_too_large": (413, "A PDF is at most 5 MB."),
    "unsupported_attachment": (415, "Attach a photo (JPEG, PNG, HEIC or WEBP) or a PDF."),
    "unsupported_media_type": (415, "This content type is not accepted here."),
    "not_an_image": (415, "The file is not a photo (JPEG, PNG or HEIC)."),
    "unsupported_image_type": (415, "GIF photos are not accepted; send a JPEG, PNG or HEIC photo."),
    "throttled": (429, "Too many requests. Try again in 12 seconds."),
    "too_many_attempts": (429, "Too many failed activation attempts. Try again later."),
    "service_unavailable": (503, "The service is briefly unavailable. Try again in a moment."),
}
EXAMPLE_FIELDS = {
    "invalid_input": {"latitude": "Ensure this value is less than or equal to 90."},
    "unknown_text_version": {"text_version": "Unknown version."},
    "text_version_outdated": {"text_version": "Not the current version."},
    "empty_file": {"selfie": "The photo is empty."},
    "invalid_image": {"selfie": "The photo could not be read; it may be damaged or incomplete."},
    "image_too_large": {"selfie": "The photo has too many pixels; at most 40 megapixels are accepted."},
    "animated_image": {"selfie": "Animated images are not accepted; send a single photo."},
    "not_an_image": {"selfie": "The file is not a photo (JPEG, PNG or HEIC)."},
    "unsupported_image_type": {"selfie": "GIF photos are not accepted; send a JPEG, PNG or HEIC photo."},
    "invalid_about": {"about": "There is nothing of yours with this reference to answer."},
    "invalid_pdf": {"attachment": "The PDF is incomplete or damaged."},
    "attachment_too_large": {"attachment": "A PDF is at most 5 MB."},
    "unsupported_attachment": {"attachment": "Attach a photo (JPEG, PNG, HEIC or WEBP) or a PDF."},
    "liveness_required": {"frames": "This field is required."},
    "challenge_invalid": {"challenge": "Unknown challenge."},
    "challenge_expired": {"challenge": "Expired."},
    "challenge_used": {"challenge": "Used already."},
}
AUTH_ERRORS = ["not_authenticated", "invalid_token"]
# Every operation may answer 503 while the database or broker restarts (reportin.api.errors).
ALWAYS = ["service_unavailable"]
BODY_ERRORS = ["malformed_request", "unsupported_media_type", "request_too_large"]


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, to act on: the codes each operation may answer are listed with its responses.")
    message = serializers.CharField(help_text="Plain words in the request's language (Accept-Language), fit to show the person.")
    fields = serializers.DictField(child=serializers.CharField(), help_text="Field name -> what is wrong with it; empty when no field is at fault.")


class Error(serializers.Serializer):
    """The one shape of every error answer: {"error": {"code", "message", "fields"}}."""

    error = ErrorDetail()


def error_responses(operation: str, codes: list[str]) -> dict[int, OpenApiResponse]:
    """Responses for `codes` (and 503 `service_unavailable`, which any operation may answer),
    grouped by status: each the one Error component, its codes named, one example per code.
    `operation` names the operation in examples' keys only."""
    by_status = defaultdict(list)
    for code in [*codes, *[code for code in ALWAYS if code not in codes]]:
        by_status[ERROR_CODES[code][0]].append(code)
    responses = {}
    for status, status_codes in sorted(by_status.items()):
        description = "Error codes: " + ", ".join(f"`{code}`" for code in status_codes)
        if status in RETRY_STATUSES:
            description += ". Retry-After says how many seconds to wait before trying again."
        responses[status] = OpenApiResponse(
            response=Error,
            description=description,
            examples=[
                OpenApiExample(
                    code,
                    value={"error": {"code": code, "message": ERROR_CODES[code][1], "fields": EXAMPLE_FIELDS.get(code, {})}},
                    status_codes=[str(status)],
                    response_only=True,
                )
                for code in status_codes
            ],
        )
    return responses


RETRY_STATUSES = (429, 503)
RETRY_AFTER = {
    "description": "Seconds to wait before sending the request again.",
    "schema": {"type": "integer", "minimum": 1},
    "example": 12,
}


def retry_after_headers(result, generator, request, public):
    """drf-spectacular postprocessing hook: Retry-After documented on every 429 and 503."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                if str(status) in {str(code) for code in RETRY_STATUSES}:
                    response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
    return result


class DeviceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "reportin.api.auth.DeviceTokenAuthentication"
    name = "deviceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <device token>`, the token that POST /api/v1/activate returned.",
        }
