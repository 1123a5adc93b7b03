"""Leaving (issue 18.7): the person removes the app from the phone; the token dies server-side
and officers see the device as removed by the person."""

import pytest
from django.test import Client as BrowserClient

from enforcement.models import AuditEvent
from reportin.models import Device
from tests import factories
from tests.conftest import make_reporter

pytestmark = pytest.mark.django_db


def test_removing_the_app_kills_the_token_on_the_server(reporter):
    assert reporter.api.get("/api/v1/me").status_code == 200
    response = reporter.api.delete("/api/v1/device")
    assert response.status_code == 200 and response.json()["device"] == "Test phone"
    device = Device.objects.get(pk=reporter.device.pk)
    assert device.revoked_at is not None and device.removed_by_person and device.revoked_by is None
    after = reporter.api.get("/api/v1/me")
    assert after.status_code == 401 and after.json()["error"]["code"] == "invalid_token"
    # A second request with the dead token is refused like any unknown token.
    assert reporter.api.delete("/api/v1/device").status_code == 401


def test_removing_one_phone_leaves_the_persons_other_phone_working(reporter):
    token, other = factories.device(reporter.client, name="Old phone")
    assert reporter.api.delete("/api/v1/device").status_code == 200
    reporter.api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert reporter.api.get("/api/v1/me").status_code == 200
    assert Device.objects.get(pk=other.pk).revoked_at is None


def test_the_removal_is_audited_as_the_persons_act(reporter):
    reporter.api.delete("/api/v1/device")
    event = AuditEvent.objects.get(action="device.remove")
    assert event.client_id == reporter.client.pk and event.actor_id is None
    assert event.actor_label == f"client {reporter.client.uci}"
    assert event.object_id == str(reporter.device.pk)


def test_without_a_token_nothing_is_removed():
    reporter = make_reporter()
    response = BrowserClient().delete("/api/v1/device")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    assert Device.objects.get(pk=reporter.device.pk).revoked_at is None


def test_officers_see_the_device_as_removed_by_the_person(client):
    reporter = make_reporter()
    kept = make_reporter()
    reporter.api.delete("/api/v1/device")
    factories.staff_login(client, factories.staff("officer"))
    page = client.get("/admin/reportin/device/").content.decode()
    assert "Removed by the person" in page
    assert page.count("Active") >= 1 and str(kept.client) in page
    detail = client.get(f"/admin/reportin/device/{reporter.device.pk}/change/").content.decode()
    assert "Removed by the person" in detail


def test_officers_see_a_persons_channels_and_notices_in_admin(client):
    from enforcement import services

    reporter = make_reporter()
    services.contact_channels_set(client=reporter.client, channels=[{"channel": "sms", "address": "+16135550123"}], language="en", recorded_via="app")
    factories.staff_login(client, factories.staff("officer"))
    page = client.get("/admin/enforcement/contactchannel/")
    assert page.status_code == 200 and str(reporter.client) in page.content.decode()
    assert client.get("/admin/enforcement/notice/").status_code == 200
    assert client.get("/admin/enforcement/office/").status_code == 200
