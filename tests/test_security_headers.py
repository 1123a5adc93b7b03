"""Issue 14.12: a Content-Security-Policy on staff pages and the API docs, no caching of any
mobile API answer (they carry personal data or a token), and access records that name the
person's address behind the trusted proxy, not the proxy's."""

import re

import pytest
from django.test import Client as HttpClient
from rest_framework.test import APIClient

from enforcement.models import AccessRecord
from tests import factories

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
def test_staff_pages_and_the_api_docs_run_only_scripts_from_this_site(path):
    response = HttpClient().get(path)
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"] == "script-src 'self'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'" and policy["object-src"] == "object-src 'none'"
    # ...and the pages need no inline script to work under it.
    html = response.content.decode()
    inline = [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag and "application/json" not in tag]
    assert inline == []


def test_the_docs_start_up_script_is_served_from_this_site():
    response = HttpClient().get("/api/docs/?script=")
    assert response.status_code == 200 and b"SwaggerUIBundle" in response.content


def test_every_mobile_api_answer_is_not_to_be_stored(reporter, media_root):
    client = factories.client(uci="77000001")
    code, _ = factories.services.activation_code_issue(client=client, issued_by=None)
    body = {
        "activation_code": code, "uci": client.uci, "date_of_birth": client.date_of_birth.isoformat(),
        "device_name": "Pixel", "platform": "android",
    }
    answers = {
        "activation (a token)": APIClient().post("/api/v1/activate", body, format="json"),
        "profile": reporter.api.get("/api/v1/me"),
        "check-in": reporter.check_in(),
        "history": reporter.api.get("/api/v1/check-ins"),
        "an error": APIClient().get("/api/v1/me", HTTP_AUTHORIZATION="Token wrong"),
    }
    assert answers["activation (a token)"].status_code == 201
    for name, response in answers.items():
        assert response["Cache-Control"] == "no-store", name


@pytest.fixture
def photo_and_officer():
    client = factories.client()
    return factories.reference_photo(client), factories.staff("officer-headers")


def _view_photo(officer, photo, **meta):
    http = HttpClient()
    factories.staff_login(http, officer)
    response = http.get(f"/admin/enforcement/referencephoto/{photo.pk}/image/", **meta)
    assert response.status_code == 200
    return AccessRecord.objects.order_by("-pk").first()


def test_an_access_record_names_the_address_behind_the_trusted_proxy(settings, photo_and_officer):
    photo, officer = photo_and_officer
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The proxy (10.0.0.5) appended the address it saw; the first entry is the client's own claim.
    record = _view_photo(officer, photo, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7")
    assert record.ip_address == "198.51.100.7"


def test_without_a_trusted_proxy_a_forwarded_header_is_ignored(photo_and_officer):
    photo, officer = photo_and_officer
    record = _view_photo(officer, photo, REMOTE_ADDR="198.51.100.20", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert record.ip_address == "198.51.100.20"
