"""Channels chosen at activation (issue 18.1, optional in POST /api/v1/activate): recorded
with the person's consent in the language they read it in, or, when the choice is not valid,
a 400 that leaves the code unused and no device made."""

import pytest
from rest_framework.test import APIClient

from enforcement.models import AuditEvent, ContactChannel
from reportin.models import Device
from tests import factories

pytestmark = pytest.mark.django_db


def body(client, code, **extra):
    return {"activation_code": code, "uci": client.uci, "date_of_birth": client.date_of_birth.isoformat(),
            "device_name": "Pixel 8", "platform": "web", **extra}


def test_channels_chosen_at_activation_are_recorded_with_their_consent():
    client = factories.client()
    code, _ = factories.services.activation_code_issue(client=client, issued_by=None)
    answer = APIClient().post("/api/v1/activate", body(client, code, language="fr", channels=[
        {"channel": "sms", "address": "+16135550123"},
    ]), format="json")
    assert answer.status_code == 201, answer.content
    [chosen] = ContactChannel.objects.filter(client=client, ended_at__isnull=True)
    assert (chosen.channel, chosen.address, chosen.consent_language, chosen.recorded_via) == ("sms", "+16135550123", "fr", "app")
    assert "messages texte" in chosen.consent_text or "SMS" in chosen.consent_text
    assert AuditEvent.objects.filter(client=client, action="contact_channels.set").count() == 1
    token = answer.json()["token"]
    listed = APIClient().get("/api/v1/channels", HTTP_AUTHORIZATION=f"Token {token}").json()
    assert [item["channel"] for item in listed["channels"]] == ["sms"]


def test_without_channels_activation_is_as_before():
    client = factories.client()
    code, _ = factories.services.activation_code_issue(client=client, issued_by=None)
    assert APIClient().post("/api/v1/activate", body(client, code), format="json").status_code == 201
    assert not ContactChannel.objects.filter(client=client).exists()


@pytest.mark.parametrize("extra, field", [
    ({"language": "en", "channels": [{"channel": "sms", "address": "613"}]}, "channels"),
    ({"channels": [{"channel": "push"}]}, "channels"),
    ({"channels": [{"channel": "sms", "address": "+16135550123"}]}, "language"),
])
def test_a_bad_channel_choice_refuses_the_activation_and_changes_nothing(extra, field):
    client = factories.client()
    code, record = factories.services.activation_code_issue(client=client, issued_by=None)
    answer = APIClient().post("/api/v1/activate", body(client, code, **extra), format="json")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_input"
    assert any(name.startswith(field) for name in answer.json()["error"]["fields"])
    record.refresh_from_db()
    assert record.used_at is None and not Device.objects.filter(client=client).exists()
    assert not ContactChannel.objects.filter(client=client).exists()
    # The code still works.
    assert APIClient().post("/api/v1/activate", body(client, code), format="json").status_code == 201


def test_email_without_an_address_on_file_refuses_the_activation():
    client = factories.client(email="")
    code, record = factories.services.activation_code_issue(client=client, issued_by=None)
    answer = APIClient().post("/api/v1/activate", body(client, code, language="en", channels=[{"channel": "email"}]), format="json")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_input"
    record.refresh_from_db()
    assert record.used_at is None and not Device.objects.filter(client=client).exists()
