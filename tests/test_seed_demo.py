"""The demo data: seeded once relative to each client's local now, kept across restarts,
reissued on request, with random passwords kept in a private file."""

import json
import stat
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from enforcement.management.commands import seed_demo as seed_module
from enforcement.models import ActivationCode, Client, ReferencePhoto, ReportingCondition, ReportingWindow, User
from enforcement.services import hash_secret, normalise_activation_code
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """The logins file goes to a folder of this test's own."""
    settings.DATA_DIR = tmp_path
    return tmp_path


def seed(*args: str) -> dict:
    out = StringIO()
    call_command("seed_demo", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def live_code(code: str) -> ActivationCode:
    return ActivationCode.objects.get(code_hash=hash_secret(normalise_activation_code(code)))


def test_seed_demo_prints_users_and_clients_as_json():
    data = seed()
    assert {u["role"] for u in data["users"]} >= {"Officer", "Supervisor", "Auditor"}
    assert all(set(u) == {"username", "password", "role"} for u in data["users"])
    assert len(data["clients"]) >= 4
    assert len({c["region"] for c in data["clients"]}) >= 4
    assert all(set(c) == {"uci", "date_of_birth", "activation_code", "code_state", "region"} for c in data["clients"])
    assert {c["code_state"] for c in data["clients"]} == {"ready"}


def test_a_second_run_keeps_logins_codes_and_admin_sessions(client, data_dir):
    first = seed()
    admin = next(u for u in first["users"] if u["username"] == "admin")
    assert client.login(username="admin", password=admin["password"])
    # ...and the second factor, as the admin passes it (backoffice: every staff account).
    factories.staff_login(client, User.objects.get(username="admin"))
    assert client.get("/admin/").status_code == 200
    counts = (User.objects.count(), Client.objects.count(), ReferencePhoto.objects.count(), ReportingCondition.objects.count())
    codes = ActivationCode.objects.count()

    second = seed()
    assert second == first  # the same passwords and the same codes, still ready
    assert counts == (User.objects.count(), Client.objects.count(), ReferencePhoto.objects.count(), ReportingCondition.objects.count())
    assert ActivationCode.objects.count() == codes
    assert all(live_code(c["activation_code"]).revoked_at is None for c in second["clients"])
    # The password was not set again: the officer's session survives a restart of the demo.
    assert client.get("/admin/").status_code == 200


def test_reseed_issues_new_codes_and_passwords_and_revokes_the_old(client):
    first = seed()
    second = seed("--reseed")
    for old, new in zip(first["users"], second["users"], strict=True):
        assert old["password"] != new["password"]
        assert client.login(username=new["username"], password=new["password"])
        assert not client.login(username=old["username"], password=old["password"])
    for old, new in zip(first["clients"], second["clients"], strict=True):
        assert old["activation_code"] != new["activation_code"]
        assert live_code(new["activation_code"]).revoked_at is None
        assert live_code(old["activation_code"]).revoked_at is not None
    assert seed() == second


def test_passwords_are_random_and_kept_only_in_a_file_its_owner_can_read(data_dir, settings):
    data = seed()
    path = data_dir / seed_module.LOGINS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    on_file = json.loads(path.read_text())
    assert on_file["users"] == {u["username"]: u["password"] for u in data["users"]}
    passwords = [u["password"] for u in data["users"]]
    assert len(set(passwords)) == len(passwords) and min(map(len, passwords)) >= 16
    # Nothing about them follows from the secret key: another secret, the same passwords.
    settings.SECRET_KEY = "another-secret-" + "y" * 40
    assert seed() == data


def test_a_code_used_or_expired_is_reported_not_silently_replaced():
    first = seed(f"--now={(datetime.now(UTC) - timedelta(days=30)).isoformat()}")
    again = seed()
    assert {c["code_state"] for c in again["clients"]} == {"expired"}
    assert [c["activation_code"] for c in again["clients"]] == [c["activation_code"] for c in first["clients"]]


def test_the_text_output_says_how_to_get_new_codes():
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "Demo data ready." in out.getvalue() and "--reseed" in out.getvalue()


def test_a_naive_or_malformed_now_is_refused():
    from django.core.management.base import CommandError

    for value in ("2026-12-07T10:00:00", "yesterday"):
        with pytest.raises(CommandError, match="UTC offset"):
            seed(f"--now={value}")


def open_windows_at(now: datetime) -> dict[str, tuple[bool, bool]]:
    """For each demo client: (has a window not closed yet, has a window under way)."""
    out = {}
    for uci, *_ in seed_module.DEMO_CLIENTS:
        windows = ReportingWindow.objects.filter(client__uci=uci, status="open", closes_at__gt=now)
        out[uci] = (windows.exists(), windows.filter(opens_at__lte=now).exists())
    return out


# Every hour of a day (19:00-24:00 in Toronto is already tomorrow in UTC), and every hour of the
# 1st and of the 31st of a month (a fixed day of the month is more than the horizon away then).
INSTANTS = [
    datetime(year, month, day, hour, 30, tzinfo=UTC)
    for year, month, day in ((2026, 12, 7), (2026, 10, 31), (2027, 1, 1))
    for hour in range(24)
]


def test_every_demo_client_has_a_window_and_the_astronaut_one_under_way_at_any_hour():
    officer = seed_module.User.objects.create_user(username="demo-officer")
    clients = [(spec, seed_module.demo_client(spec, officer=officer)) for spec in seed_module.DEMO_CLIENTS]
    failures = []
    for now in INSTANTS:
        # Each instant on its own: the conditions and windows of one are rolled back before the next.
        with transaction.atomic():
            for spec, client in clients:
                seed_module.demo_condition(spec, client=client, officer=officer, now=now)
            found = open_windows_at(now)
            if not all(upcoming for upcoming, _ in found.values()) or not found["11000001"][1]:
                failures.append((now.isoformat(), found))
            transaction.set_rollback(True)
    assert failures == []


def test_seeding_at_an_injected_instant_late_on_the_31st_in_toronto():
    now = datetime(2026, 12, 31, 23, 30, tzinfo=seed_module.schedule.zone("America/Toronto"))
    seed(f"--now={now.isoformat()}")
    found = open_windows_at(now)
    assert all(upcoming for upcoming, _ in found.values()), found
    assert found["11000001"] == (True, True)


def test_seeded_users_can_log_in_and_clients_have_ready_reference_photos(client):
    data = seed()
    for user in data["users"]:
        assert client.login(username=user["username"], password=user["password"])
    for item in data["clients"]:
        assert ReferencePhoto.objects.filter(client__uci=item["uci"], status="ready").exists()
        assert ReportingCondition.objects.filter(client__uci=item["uci"], active=True).exists()


def test_seeded_clients_have_reporting_windows_and_one_is_under_way_now():
    from django.utils import timezone

    seed()
    now = timezone.now()
    found = open_windows_at(now)
    assert all(upcoming for upcoming, _ in found.values()), found
    # The first demo client reports daily, all day: there is always a window to check in to.
    assert found["11000001"][1]
    count = ReportingWindow.objects.count()
    seed()
    assert ReportingWindow.objects.count() == count
