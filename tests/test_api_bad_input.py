"""Every byte the phone sends may be wrong, hostile or late: each bad input gets a clear 4xx in
the documented shape, and nothing is stored (no row, no file) or queued."""

import io
import struct
import time
import zlib
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from enforcement import services as enforcement_services
from reportin import services
from reportin.models import CheckIn, Device
from tests import factories, images
from tests.conftest import make_reporter, multipart, stored_files

pytestmark = pytest.mark.django_db

URL = "/api/v1/check-ins"


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG header announcing width x height pixels, with a few bytes of data: it would
    take 1.2 GB to decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b"")


def gif() -> bytes:
    buffer = io.BytesIO()
    images.astronaut().convert("P").save(buffer, format="GIF")
    return buffer.getvalue()


def animated_png() -> bytes:
    buffer = io.BytesIO()
    frames = [images.astronaut(), images.astronaut().rotate(10)]
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def good_parts(**overrides) -> list[tuple[str, bytes, str | None]]:
    fields = {
        "latitude": b"43.65",
        "longitude": b"-79.38",
        "accuracy_m": b"10",
        "captured_at": timezone.now().isoformat().encode(),
    }
    fields.update(overrides)
    return [("selfie", images.selfie(), "selfie.jpg")] + [(k, v, None) for k, v in fields.items()]


# Each case: name -> (form fields for Reporter.check_in, or a callable(reporter) making the request).
def raw(parts, **headers):
    def send(reporter):
        body, content_type = multipart(parts)
        return reporter.api.generic("POST", URL, body, content_type=content_type, HTTP_IDEMPOTENCY_KEY="k", **headers)

    return send


def upload(data: bytes, name: str = "selfie.jpg"):
    # A zero-byte file still needs a name to be a file part at all.
    return {"selfie": SimpleUploadedFile(name, data, "image/jpeg")}


def _later(**delta) -> str:
    return (timezone.now() + timedelta(**delta)).isoformat()


CHECKIN_CASES = {
    "missing latitude": ({"latitude": None}, 400, "invalid_input", "latitude"),
    "missing selfie": ({"selfie": None}, 400, "invalid_input", "selfie"),
    "extra field": ({"mood": "fine"}, 400, "invalid_input", "mood"),
    "latitude 91": ({"latitude": "91"}, 400, "invalid_input", "latitude"),
    "longitude -181": ({"longitude": "-181"}, 400, "invalid_input", "longitude"),
    "latitude NaN": ({"latitude": "NaN"}, 400, "invalid_input", "latitude"),
    "longitude infinite": ({"longitude": "inf"}, 400, "invalid_input", "longitude"),
    "accuracy 0": ({"accuracy_m": "0"}, 400, "invalid_input", "accuracy_m"),
    "accuracy negative": ({"accuracy_m": "-5"}, 400, "invalid_input", "accuracy_m"),
    "captured a day in the future": ({"captured_at": "FUTURE"}, 400, "invalid_input", "captured_at"),
    "captured_at malformed": ({"captured_at": "yesterday at noon"}, 400, "invalid_input", "captured_at"),
    "captured_at without offset": ({"captured_at": "2026-03-01T10:00:00"}, 400, "invalid_input", "captured_at"),
    "captured_at minute 99": ({"captured_at": "2026-01-01T12:99:00Z"}, 400, "invalid_input", "captured_at"),
    "captured_at far in the past": ({"captured_at": "1999-01-01T10:00:00Z"}, 400, "invalid_input", "captured_at"),
    "zero-byte selfie": (upload(b""), 400, "empty_file", "selfie"),
    "text file named .jpg": (upload(b"Dear officer, I am at home.\n"), 415, "not_an_image", "selfie"),
    "HTML with a PNG signature": (upload(b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>", "x.png"), 400, "invalid_image", "selfie"),
    "truncated JPEG": (upload(images.selfie()[: len(images.selfie()) // 2]), 400, "invalid_image", "selfie"),
    "JPEG without a frame": (upload(b"\xff\xd8\xff\xfe\x00\x04hi\xff\xd9"), 400, "invalid_image", "selfie"),
    "20000x20000 PNG bomb": (upload(png_bomb(), "bomb.png"), 400, "image_too_large", "selfie"),
    "GIF": (upload(gif(), "x.gif"), 415, "unsupported_image_type", "selfie"),
    "animated PNG": (upload(animated_png(), "x.png"), 400, "animated_image", "selfie"),
    "two selfies": (
        {"selfie": [SimpleUploadedFile("a.jpg", images.selfie()), SimpleUploadedFile("b.jpg", images.selfie())]},
        400, "invalid_input", "selfie",
    ),
    "selfie sent as text": (raw([("selfie", b"not a file", None)] + good_parts()[1:]), 400, "invalid_input", "selfie"),
    "oversized address": ({"address": "x" * 501}, 400, "invalid_input", "address"),
    "invalid UTF-8 in address": (raw(good_parts(address=b"12 Rue \xff\xfe Principale")), 400, "invalid_input", "address"),
    "NUL in employment": ({"employment": "cook\x00"}, 400, "invalid_input", "employment"),
    "latitude sent twice": (raw(good_parts() + [("latitude", b"1.0", None)]), 400, "invalid_input", "latitude"),
    "broken multipart": (
        lambda r: r.api.generic("POST", URL, b"--nope\r\ngarbage", content_type="multipart/form-data; boundary=", HTTP_IDEMPOTENCY_KEY="k"),
        400, "malformed_request", None,
    ),
    "JSON instead of multipart": (
        lambda r: r.api.post(URL, {"latitude": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k"), 415, "unsupported_media_type", None,
    ),
    "unknown content type": (
        lambda r: r.api.generic("POST", URL, b"<checkin/>", content_type="application/xml", HTTP_IDEMPOTENCY_KEY="k"),
        415, "unsupported_media_type", None,
    ),
    "missing Idempotency-Key": (lambda r: r.check_in(key=None), 400, "idempotency_key_required", None),
    "Idempotency-Key with spaces": (lambda r: r.check_in(key="a b"), 400, "invalid_idempotency_key", None),
    "Idempotency-Key too long": (lambda r: r.check_in(key="k" * 129), 400, "invalid_idempotency_key", None),
    "no token": (lambda r: APIClient().post(URL, {}, HTTP_IDEMPOTENCY_KEY="k"), 401, "not_authenticated", None),
    "unknown token": (
        lambda r: APIClient().post(URL, {}, HTTP_IDEMPOTENCY_KEY="k", HTTP_AUTHORIZATION="Token nope"), 401, "invalid_token", None,
    ),
}


@pytest.mark.parametrize("case", list(CHECKIN_CASES), ids=list(CHECKIN_CASES))
def test_bad_checkin_is_refused_and_nothing_is_stored_or_queued(case, reporter, media_root, django_capture_on_commit_callbacks):
    request, status, code, field = CHECKIN_CASES[case]
    if isinstance(request, dict) and request.get("captured_at") == "FUTURE":
        request = {"captured_at": _later(days=1)}
    with django_capture_on_commit_callbacks() as callbacks:
        response = request(reporter) if callable(request) else reporter.check_in(**request)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    if field:
        assert field in error["fields"], error
    assert not CheckIn.objects.exists()
    assert not stored_files(media_root)
    assert not callbacks


def test_a_decompression_bomb_is_refused_in_milliseconds(reporter, media_root):
    bomb = png_bomb(30000, 30000)
    started = time.perf_counter()
    response = reporter.check_in(selfie=bomb)
    assert response.status_code == 400 and response.json()["error"]["code"] == "image_too_large"
    assert time.perf_counter() - started < 0.5


def test_an_11_mb_upload_is_refused_before_it_is_read(reporter, media_root, django_capture_on_commit_callbacks):
    big = images.selfie() + b"\x00" * (11 * 1024 * 1024)
    with django_capture_on_commit_callbacks() as callbacks:
        response = reporter.check_in(selfie=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"
    assert not CheckIn.objects.exists() and not stored_files(media_root) and not callbacks


def test_an_upload_larger_than_announced_is_cut_off_at_the_cap(reporter, media_root, settings):
    settings.REPORTIN_UPLOAD_MAX_BYTES = 100_000
    body, content_type = multipart(good_parts())
    padded = body.replace(images.selfie(), images.selfie() + b"\x00" * 120_000)
    # Announce a small body; send a large one (Content-Length is taken from the real body by
    # the test client, so only the per-chunk cap can catch this one).
    response = reporter.api.generic("POST", URL, padded, content_type=content_type, HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 413
    assert not CheckIn.objects.exists() and not stored_files(media_root)


def test_an_idempotency_key_reused_with_a_different_body_is_a_conflict(reporter, media_root, django_capture_on_commit_callbacks):
    first = reporter.check_in(key="same-key", latitude="43.65")
    assert first.status_code == 202
    with django_capture_on_commit_callbacks() as callbacks:
        response = reporter.check_in(key="same-key", latitude="43.66")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert CheckIn.objects.count() == 1 and len(stored_files(media_root)) == 1 and not callbacks


def test_a_revoked_token_cannot_check_in(reporter, media_root):
    services.device_revoke(device=reporter.device, revoked_by=None)
    response = reporter.check_in()
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"
    assert not CheckIn.objects.exists() and not stored_files(media_root)


@pytest.mark.parametrize("path", ["/api/v1/check-ins/999999999999999999", "/api/v1/check-ins/abc", "/api/v1/check-ins/9999999999999999999999"])
def test_ids_that_are_not_the_callers_are_404_in_the_error_shape(reporter, path):
    response = reporter.api.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] in ("checkin_not_found", "not_found")


# --- Activation -----------------------------------------------------------------------------


def activate(client, code, **overrides):
    body = {
        "activation_code": code, "uci": client.uci, "date_of_birth": client.date_of_birth.isoformat(),
        "device_name": "phone", "platform": "ios",
    }
    body.update(overrides)
    return APIClient().post("/api/v1/activate", {k: v for k, v in body.items() if v is not None}, format="json")


def expired_code(client):
    past = timezone.now() - timedelta(hours=80)
    code, _ = enforcement_services.activation_code_issue(client=client, issued_by=None, now=past, ttl_hours=72)
    return code


def used_code(client):
    code, _ = enforcement_services.activation_code_issue(client=client, issued_by=None)
    services.device_activate(
        activation_code=code, uci=client.uci, date_of_birth=client.date_of_birth, device_name="first", platform="ios",
        client_address="192.0.2.50",
    )
    return code


def fresh_code(client):
    return enforcement_services.activation_code_issue(client=client, issued_by=None)[0]


ACTIVATION_CASES = {
    "bad code": (lambda c: activate(c, "ABCD-EFGH-JKMN"), 400, "activation_failed"),
    "expired code": (lambda c: activate(c, expired_code(c)), 400, "activation_failed"),
    "reused code": (lambda c: activate(c, used_code(c)), 400, "activation_failed"),
    "right code, wrong UCI": (lambda c: activate(c, fresh_code(c), uci="99999999"), 400, "activation_failed"),
    "right code, wrong date of birth": (lambda c: activate(c, fresh_code(c), date_of_birth="1991-01-02"), 400, "activation_failed"),
    "UCI not digits": (lambda c: activate(c, fresh_code(c), uci="12AB5678"), 400, "invalid_input"),
    "unknown platform": (lambda c: activate(c, fresh_code(c), platform="symbian"), 400, "invalid_input"),
    "missing date of birth": (lambda c: activate(c, fresh_code(c), date_of_birth=None), 400, "invalid_input"),
    "malformed JSON": (
        lambda c: APIClient().generic("POST", "/api/v1/activate", b'{"uci": "1', content_type="application/json"), 400, "malformed_request",
    ),
    "invalid UTF-8 JSON": (
        lambda c: APIClient().generic("POST", "/api/v1/activate", b'{"device_name": "\xff\xfe"}', content_type="application/json"),
        400, "malformed_request",
    ),
    "a 100 KB JSON body": (
        lambda c: APIClient().post("/api/v1/activate", {"device_name": "x" * 100_000}, format="json"), 413, "request_too_large",
    ),
    "a JSON list": (lambda c: APIClient().post("/api/v1/activate", [1, 2], format="json"), 400, "invalid_input"),
}


@pytest.mark.parametrize("case", list(ACTIVATION_CASES), ids=list(ACTIVATION_CASES))
def test_bad_activation_is_refused_with_one_generic_error_and_no_device(case):
    client = factories.client()
    request, status, code = ACTIVATION_CASES[case]
    response = request(client)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    # ("reused code" activates a device named "first" on purpose, before the attempt.)
    assert not Device.objects.filter(name="phone").exists()


def test_the_activation_error_does_not_say_what_was_wrong():
    client = factories.client()
    messages = {activate(client, code, **extra).json()["error"]["message"] for code, extra in [
        ("ABCD-EFGH-JKMN", {}), (expired_code(client), {}), (fresh_code(client), {"uci": "99999999"}),
    ]}
    assert len(messages) == 1


# --- Consent --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kind": "tracking", "decision": "granted", "text_version": "2026-01", "language": "en"}, 400, "invalid_input"),
        ({"kind": "app_use", "decision": "maybe", "text_version": "2026-01", "language": "en"}, 400, "invalid_input"),
        ({"kind": "app_use", "decision": "granted", "text_version": "1999-01", "language": "en"}, 400, "unknown_text_version"),
        ({"kind": "app_use", "decision": "granted", "text_version": "2026-01", "language": "de"}, 400, "invalid_input"),
        ({"kind": "app_use", "decision": "granted"}, 400, "invalid_input"),
    ],
)
def test_bad_consent_is_refused_and_nothing_recorded(body, status, code):
    reporter = make_reporter(consent=False)
    response = reporter.api.post("/api/v1/consents", body, format="json")
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert not reporter.client.consent_records.exists()


def test_unknown_consent_text_kind_is_invalid_input():
    response = APIClient().get("/api/v1/consent-text", {"kind": "tracking"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"


def test_an_unknown_api_url_is_404_in_the_error_shape():
    response = APIClient().get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_a_wrong_method_is_405_in_the_error_shape(reporter):
    response = reporter.api.delete("/api/v1/me")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_pillow_never_decodes_a_bomb_even_when_asked_directly():
    with pytest.raises(Exception):  # noqa: B017 - Pillow's own bomb guard, whatever its type
        Image.open(io.BytesIO(png_bomb(30000, 30000))).load()


def test_the_benchmark_baseline_endpoint_does_not_exist_unless_enabled(reporter):
    response = reporter.api.post("/api/bench/upload", {"selfie": SimpleUploadedFile("s.jpg", images.selfie())}, format="multipart")
    assert response.status_code == 404


@pytest.mark.parametrize("body", [b"[" * 30000, b'{"a":' * 33 + b"1" + b"}" * 33, b"[" * 20000 + b"]" * 20000])
def test_deeply_nested_json_is_a_400_in_the_error_shape_not_a_500(body):
    # Issue 14.9: 60 KB of "[" gave a 500 with a traceback, unauthenticated.
    response = APIClient().generic("POST", "/api/v1/activate", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "malformed_request"
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_json_nested_to_the_limit_is_read_and_brackets_inside_strings_do_not_count(reporter):
    from reportin.api.uploads import JSON_MAX_DEPTH, json_depth_exceeds

    assert not json_depth_exceeds(b"[" * JSON_MAX_DEPTH + b"]" * JSON_MAX_DEPTH)
    assert json_depth_exceeds(b"[" * (JSON_MAX_DEPTH + 1) + b"]" * (JSON_MAX_DEPTH + 1))
    assert not json_depth_exceeds(b'{"kind": "[[[[' + b"[" * 100 + b'\\" {{{", "decision": 1}')
    # A real request with brackets in its text is answered as usual (an invalid kind here).
    response = reporter.api.post("/api/v1/consents", {"kind": "[" * 40, "decision": "granted"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"
