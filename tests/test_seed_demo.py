import json
from io import StringIO

import pytest
from django.core.management import call_command

from enforcement.models import ActivationCode, Client, ReferencePhoto, ReportingCondition, User
from enforcement.services import hash_secret, normalise_activation_code

pytestmark = pytest.mark.django_db


def seed() -> dict:
    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_seed_demo_prints_users_and_clients_as_json():
    data = seed()
    assert {u["role"] for u in data["users"]} >= {"Officer", "Supervisor", "Auditor"}
    assert all(set(u) == {"username", "password", "role"} for u in data["users"])
    assert len(data["clients"]) >= 4
    assert len({c["region"] for c in data["clients"]}) >= 4
    assert all(set(c) == {"uci", "date_of_birth", "activation_code", "region"} for c in data["clients"])


def test_seed_demo_is_idempotent_and_issues_fresh_working_codes():
    first = seed()
    counts = (User.objects.count(), Client.objects.count(), ReferencePhoto.objects.count(), ReportingCondition.objects.count())
    second = seed()
    assert counts == (User.objects.count(), Client.objects.count(), ReferencePhoto.objects.count(), ReportingCondition.objects.count())
    assert first["users"] == second["users"]  # the same credentials keep working
    for old, new in zip(first["clients"], second["clients"]):
        assert old["activation_code"] != new["activation_code"]
        live = ActivationCode.objects.filter(code_hash=hash_secret(normalise_activation_code(new["activation_code"])))
        assert live.get().revoked_at is None
        revoked = ActivationCode.objects.get(code_hash=hash_secret(normalise_activation_code(old["activation_code"])))
        assert revoked.revoked_at is not None


def test_seeded_users_can_log_in_and_clients_have_ready_reference_photos(client):
    data = seed()
    for user in data["users"]:
        assert client.login(username=user["username"], password=user["password"])
    for item in data["clients"]:
        assert ReferencePhoto.objects.filter(client__uci=item["uci"], status="ready").exists()
        assert ReportingCondition.objects.filter(client__uci=item["uci"], active=True).exists()


def test_seeded_clients_have_reporting_windows_and_one_is_under_way_now():
    from django.utils import timezone

    from enforcement.models import ReportingWindow

    data = seed()
    now = timezone.now()
    for item in data["clients"]:
        assert ReportingWindow.objects.filter(client__uci=item["uci"], status="open", closes_at__gt=now).exists(), item["uci"]
    # The first demo client reports daily, all day: there is always a window to check in to.
    assert ReportingWindow.objects.filter(client__uci="11000001", opens_at__lte=now, closes_at__gt=now).exists()
    count = ReportingWindow.objects.count()
    seed()
    assert ReportingWindow.objects.count() == count
