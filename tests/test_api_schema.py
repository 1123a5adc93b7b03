"""The OpenAPI schema is valid and complete, the docs page renders from this site alone, and
Schemathesis finds no server error and no response that breaks the schema."""

import re
import subprocess
import sys
import time

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

from reportin.api.docs import ERROR_CODES
from reportin.models import CheckIn
from tests.conftest import make_reporter


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    # --fail-on-warn: an undocumented field or an unresolvable type fails the test.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


OPERATIONS = {
    ("/api/v1/activate", "post"),
    ("/api/v1/consent-text", "get"),
    ("/api/v1/consents", "post"),
    ("/api/v1/me", "get"),
    ("/api/v1/check-ins", "post"),
    ("/api/v1/check-ins", "get"),
    ("/api/v1/check-ins/{checkin_id}", "get"),
    ("/api/v1/device", "delete"),
    ("/api/v1/channels", "get"),
    ("/api/v1/channels", "put"),
    ("/api/v1/language", "put"),
    ("/api/v1/notices", "get"),
    ("/api/v1/notices/{notice_id}/read", "post"),
    ("/api/v1/messages", "get"),
    ("/api/v1/messages", "post"),
    ("/api/v1/messages/{message_id}/read", "post"),
    ("/api/v1/appointments", "get"),
    ("/api/v1/notify/receipts", "post"),
    ("/api/v1/check-ins/challenge", "post"),
}


def test_the_schema_lists_every_operation_and_nothing_else(schema):
    found = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert found == OPERATIONS


def test_every_operation_has_a_summary_a_description_and_an_example_for_each_response(schema):
    for path, method in OPERATIONS:
        operation = schema["paths"][path][method]
        assert operation.get("summary") and operation.get("description"), (path, method)
        for status, response in operation["responses"].items():
            content = response.get("content", {}).get("application/json")
            assert content, (path, method, status)
            assert content.get("examples"), f"{method} {path} {status} has no example"
        body = operation.get("requestBody", {}).get("content", {})
        for media in body.values():
            assert media.get("examples"), f"{method} {path} request has no example"


def test_every_error_code_is_documented_with_an_example(schema):
    documented = set()
    for path, method in OPERATIONS:
        for response in schema["paths"][path][method]["responses"].values():
            for example in response["content"]["application/json"]["examples"].values():
                if "error" in example["value"]:
                    documented.add(example["value"]["error"]["code"])
    assert documented == set(ERROR_CODES), set(ERROR_CODES) ^ documented


def test_every_error_uses_the_one_error_component(schema):
    errors = [name for name in schema["components"]["schemas"] if "Error" in name]
    assert sorted(errors) == ["Error", "ErrorDetail"]
    for path, method in OPERATIONS:
        for status, response in schema["paths"][path][method]["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (path, method, status)


def test_every_operation_documents_503_and_retry_after(schema):
    for path, method in OPERATIONS:
        responses = schema["paths"][path][method]["responses"]
        unavailable = responses["503"]
        assert "service_unavailable" in unavailable["content"]["application/json"]["examples"]["ServiceUnavailable"]["value"]["error"]["code"]
        for status in ("429", "503"):
            if status in responses:
                assert responses[status]["headers"]["Retry-After"]["schema"]["type"] == "integer", (path, method, status)


def test_the_docs_open_with_a_getting_started_sequence(schema):
    description = schema["info"]["description"]
    steps = ["POST /api/v1/activate", "GET /api/v1/me", "POST /api/v1/consents", "PUT /api/v1/channels", "POST /api/v1/check-ins", "DELETE /api/v1/device"]
    positions = [description.index(step) for step in steps]
    assert description.index("## Getting started") < positions[0] and positions == sorted(positions)


def test_every_field_has_a_type(schema):
    for name, component in schema["components"]["schemas"].items():
        for field, spec in component.get("properties", {}).items():
            assert {"type", "$ref", "allOf", "oneOf", "enum"} & set(spec), (name, field)


def test_device_operations_require_the_token_scheme(schema):
    assert schema["components"]["securitySchemes"]["deviceToken"]["name"] == "Authorization"
    # GC Notify's receipts carry the callback bearer token configured for them, not a device's.
    public = {("/api/v1/activate", "post"), ("/api/v1/consent-text", "get"), ("/api/v1/notify/receipts", "post")}
    for path, method in OPERATIONS - public:
        assert schema["paths"][path][method]["security"] == [{"deviceToken": []}], (path, method)


def test_the_docs_page_renders_from_this_site_without_any_cdn():
    browser = Client(HTTP_HOST="localhost")
    page = browser.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        # Static files, and Swagger UI's start-up script from the docs view itself (no inline
        # script, for the Content-Security-Policy).
        assert asset.startswith(("/static/", "/api/docs/?script")), f"{asset} is not served by this site"
        assert browser.get(asset).status_code == 200, asset
    assert not re.search(r"https?://(?!localhost)", html)
    assert browser.get("/api/schema/").status_code == 200


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_server, settings, tmp_path, media_root):
    """Schemathesis generates valid and invalid requests for every operation from the live
    schema and checks every answer against it, with a real device token."""
    # The limits would otherwise answer most generated requests with 429.
    settings.REPORTIN_RATE_DEVICE = settings.REPORTIN_RATE_ADDRESS = settings.REPORTIN_RATE_ANONYMOUS = (1_000_000, 60)
    reporter = make_reporter()
    # Something for the history and detail operations to find, at the id the schema's example uses.
    CheckIn.objects.filter(pk=reporter.check_in().json()["id"]).update(id=4711)
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "run", f"{live_server.url}/api/schema/",
            "--header", f"Authorization: Token {reporter.token}",
            "--checks", "all",
            # Valid-looking data is still refused when it is, e.g., random bytes as a selfie or a
            # wrong activation code; stateful checks need links the API has no use for.
            "--exclude-checks", "positive_data_acceptance,use_after_free,ensure_resource_availability",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", "40",
            "--seed", "20260301",
            "--workers", "1",
            "--request-timeout", "20",
            "--suppress-health-check", "all",
            "--report", "junit", "--report-dir", str(tmp_path),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    print(output[-3000:], f"\nschemathesis took {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, output[-20000:]
