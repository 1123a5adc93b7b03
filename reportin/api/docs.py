"""OpenAPI documentation helpers: the token scheme, and error responses that list each
operation's error codes (so that a response with an undocumented code breaks the schema) with
one example per code."""

from collections import defaultdict

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_field, inline_serializer
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
    "consent_text_not_found": (404, "There is no consent text for this kind and language."),
    "text_version_outdated": (409, "A newer version of this consent text has been published; read it before giving consent."),
    "challenge_used": (409, "This challenge was used already. Ask for a new one."),
    "idempotency_key_reused": (409, "This Idempotency-Key was already used for a different check-in."),
    "upload_too_large": (413, "The photo is larger than 10 MB."),
    "request_too_large": (413, "The request is too large."),
    "unsupported_media_type": (415, "This content type is not accepted here."),
    "not_an_image": (415, "The file is not a photo (JPEG, PNG or HEIC)."),
    "unsupported_image_type": (415, "GIF photos are not accepted; send a JPEG, PNG or HEIC photo."),
    "throttled": (429, "Too many requests. Try again in 12 seconds."),
    "too_many_attempts": (429, "Too many failed activation attempts. Try again later."),
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
    "liveness_required": {"frames": "This field is required."},
    "challenge_invalid": {"challenge": "Unknown challenge."},
    "challenge_expired": {"challenge": "Expired."},
    "challenge_used": {"challenge": "Used already."},
}
AUTH_ERRORS = ["not_authenticated", "invalid_token"]
BODY_ERRORS = ["malformed_request", "unsupported_media_type", "request_too_large"]


def _code_field(codes: list[str]) -> serializers.CharField:
    """A string that must be one of `codes`. Written as a pattern, not an enum: drf-spectacular
    would turn each code list into a shared component with a made-up name."""

    @extend_schema_field({"type": "string", "pattern": "^(" + "|".join(codes) + ")$", "example": codes[0]})
    class CodeField(serializers.CharField):
        pass

    return CodeField(help_text="One of: " + ", ".join(codes))


def error_responses(operation: str, codes: list[str]) -> dict[int, OpenApiResponse]:
    """Responses for `codes`, grouped by status, each with its own component whose `code` is
    an enum of exactly the codes this operation may answer with that status."""
    by_status = defaultdict(list)
    for code in codes:
        by_status[ERROR_CODES[code][0]].append(code)
    responses = {}
    for status, status_codes in sorted(by_status.items()):
        name = f"{operation}Error{status}"
        detail = inline_serializer(
            name=f"{name}Detail",
            fields={
                "code": _code_field(status_codes),
                "message": serializers.CharField(),
                "fields": serializers.DictField(child=serializers.CharField()),
            },
        )
        responses[status] = OpenApiResponse(
            response=inline_serializer(name=name, fields={"error": detail}),
            description="Error codes: " + ", ".join(f"`{code}`" for code in status_codes),
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
