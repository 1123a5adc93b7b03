"""PUT /api/v1/language: the person chooses their language (issue 18.9)."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from enforcement import services as enforcement_services
from enforcement.models import Language
from reportin.api.docs import AUTH_ERRORS, BODY_ERRORS, error_responses
from reportin.api.serializers import StrictSerializer
from reportin.api.views import _Device, _validated


class LanguageInput(StrictSerializer):
    language = serializers.ChoiceField(choices=Language.choices)


class LanguageOutput(serializers.Serializer):
    language = serializers.ChoiceField(choices=Language.choices, help_text="The person's language as now on file.")


LANGUAGE_EXAMPLE = OpenApiExample("Arabic", value={"language": "ar"})


class LanguageView(_Device):
    @extend_schema(
        operation_id="language_set",
        summary="Choose my language",
        description=(
            "The person's language from now on: notices, reminders by email, text message and push, and "
            "answers sent without Accept-Language. Words not translated yet come in English. The change is "
            "audited and officers see it on the client's page."
        ),
        request=LanguageInput,
        examples=[LANGUAGE_EXAMPLE],
        responses={200: OpenApiResponse(LanguageOutput, examples=[LANGUAGE_EXAMPLE]),
                   **error_responses("Language", ["invalid_input", "throttled", *AUTH_ERRORS, *BODY_ERRORS])},
        tags=["profile"],
    )
    def put(self, request):
        data = _validated(LanguageInput, request.data)
        client = enforcement_services.client_language_choose(client=request.auth.client, language=data["language"])
        return Response(LanguageOutput({"language": client.preferred_language}).data)
