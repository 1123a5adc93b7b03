"""The whole flow through real HTTP, with a real worker: activate, read the consent texts,
consent to both, check in with a real face photo, and see the check-in scored."""

from datetime import timedelta

import pytest
from django.utils import timezone

from enforcement.models import ReportingWindow
from tests import factories, images
from tests.conftest import multipart, wait_for
from tests.http import call


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_activate_consent_check_in_and_see_it_verified(live_server, celery_worker):
    api = f"{live_server.url}/api/v1"
    # The officer's side: enrolment, a reference photo, a condition with a window open now.
    client = factories.client()
    factories.reference_photo(client)
    factories.condition(client, starts_on=factories.LATER)  # the test makes its windows
    window = factories.window(client, opens_at=timezone.now() - timedelta(minutes=10), minutes=120)
    code, _ = factories.services.activation_code_issue(client=client, issued_by=None)

    status, _, body = call("POST", f"{api}/activate", json_body={
        "activation_code": code, "uci": client.uci, "date_of_birth": client.date_of_birth.isoformat(),
        "device_name": "Test iPhone", "platform": "ios",
    })
    assert status == 201, body
    auth = {"Authorization": f"Token {body['token']}"}

    for kind in ("app_use", "biometric"):
        status, _, text = call("GET", f"{api}/consent-text?kind={kind}&language=en", headers=auth)
        assert status == 200 and text["body"]
        status, _, state = call("POST", f"{api}/consents", headers=auth, json_body={
            "kind": kind, "decision": "granted", "text_version": text["version"], "language": "en",
        })
        assert status == 201, state
    assert state["remote_reporting_allowed"] is True

    status, _, me = call("GET", f"{api}/me", headers=auth)
    assert me["current_window"]["id"] == window.pk
    assert [action["code"] for action in me["pending_actions"]] == ["check_in_now"]

    form, content_type = multipart([
        ("selfie", images.selfie(), "selfie.jpg"),
        ("latitude", b"43.6532", None),
        ("longitude", b"-79.3832", None),
        ("accuracy_m", b"15", None),
        ("captured_at", timezone.now().isoformat().encode(), None),
    ])
    status, _, accepted = call(
        "POST", f"{api}/check-ins", body=form, headers={**auth, "Content-Type": content_type, "Idempotency-Key": "happy-1"}
    )
    assert status == 202, accepted
    assert accepted["status"] == "received" and accepted["window"]["id"] == window.pk

    def verified():
        _, _, checkin = call("GET", f"{api}/check-ins/{accepted['id']}", headers=auth)
        return checkin if checkin["status"] not in ("received", "scoring") else None

    checkin = wait_for(verified, timeout=120, interval=0.5, message=f"the check-in to be scored (worker log:\n{celery_worker.log()})")
    assert checkin["status"] == "verified", checkin
    assert checkin["status_text"] == "Your report was accepted."
    assert ReportingWindow.objects.get(pk=window.pk).status == "satisfied"
    status, _, me = call("GET", f"{api}/me", headers=auth)
    assert me["pending_actions"] == []
