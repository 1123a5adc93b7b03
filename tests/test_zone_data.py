"""Time zones come from the pinned tzdata wheel in every process, whatever the host has."""

import json
import os
import re
import subprocess
import sys
import zoneinfo
from datetime import UTC, date, datetime, time

import pytest
from django.core.management import call_command

from enforcement import schedule
from enforcement.models import ReportingWindow, Schedule
from enforcement.zonedata import check_zone_data, zone_data
from tests import factories
from tests.conftest import ROOT, make_reporter

HOST_ZONES = "/usr/share/zoneinfo"


def pinned_tzdata() -> str:
    [version] = re.findall(r"^tzdata==(\S+)$", (ROOT / "requirements.txt").read_text(), flags=re.MULTILINE)
    return version


def test_the_tzdata_in_use_is_the_pinned_one_and_no_host_folder_comes_first():
    data = zone_data()
    assert data.package_version == pinned_tzdata()
    assert data.search_path == () and zoneinfo.TZPATH == ()
    assert check_zone_data() == []


def test_vancouver_is_on_utc_minus_7_from_november_2026():
    # IANA 2026f: British Columbia stays on UTC-7 all year. Zone data older than that (Debian's
    # 2025b on this host) says UTC-8, an hour off for every window in the region.
    winter = datetime(2026, 12, 7, 16, 0, tzinfo=UTC).astimezone(zoneinfo.ZoneInfo("America/Vancouver"))
    assert winter.utcoffset().total_seconds() == -7 * 3600


@pytest.mark.django_db
def test_a_0900_vancouver_condition_on_2026_12_07_opens_at_1600_utc():
    officer = factories.staff("officer-bc", region_code="pacific")
    client = factories.client(region_code="pacific", officer=officer)
    factories.services.condition_set(
        client=client, set_by=officer, now=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        schedule=Schedule.EVERY_N_DAYS, interval_days=1, window_start=time(9, 0), window_minutes=480,
        starts_on=date(2026, 12, 7),
    )
    window = ReportingWindow.objects.filter(client=client).order_by("opens_at").first()
    assert window.opens_at == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
    assert window.closes_at == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)


def test_a_host_folder_ahead_of_the_wheel_fails_the_system_check():
    try:
        zoneinfo.reset_tzpath(to=[HOST_ZONES])
        [error] = check_zone_data()
        assert error.id == "enforcement.E011" and HOST_ZONES in error.msg
    finally:
        zoneinfo.reset_tzpath(to=())
        zoneinfo.ZoneInfo.clear_cache()
        schedule.zone.cache_clear()


def test_zone_data_command_prints_the_version(capsys):
    call_command("zone_data")
    out = capsys.readouterr().out
    assert f"tzdata {pinned_tzdata()}" in out and "read from the tzdata package" in out


@pytest.mark.processes
@pytest.mark.parametrize(
    "command",
    [
        ["manage.py", "zone_data", "--json"],
        # What gunicorn (config.wsgi:application) and Celery (-A config) import first.
        ["-c", "import json, zoneinfo, config.wsgi, tzdata; from datetime import datetime, UTC; "
               "at = datetime(2026, 12, 7, 16, tzinfo=UTC).astimezone(zoneinfo.ZoneInfo('America/Vancouver')); "
               "print(json.dumps({'tzdata_version': tzdata.__version__, 'host_paths_first': list(zoneinfo.TZPATH), "
               "'vancouver': at.isoformat()}))"],
    ],
    ids=["manage.py", "web-and-worker-import"],
)
def test_other_processes_read_the_pinned_zones_even_when_the_host_path_is_set(command):
    env = dict(os.environ, PYTHONTZPATH=HOST_ZONES, DJANGO_SETTINGS_MODULE="config.test_settings")
    result = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["tzdata_version"] == pinned_tzdata()
    assert out["host_paths_first"] == []
    if "vancouver" in out:
        assert out["vancouver"] == "2026-12-07T09:00:00-07:00"



@pytest.mark.django_db
def test_me_carries_the_utc_offset_from_the_servers_zone_data():
    reporter = make_reporter(time_zone="America/Regina")  # UTC-6 all year: the answer does not depend on the date
    profile = reporter.api.get("/api/v1/me").json()["profile"]
    assert (profile["time_zone"], profile["utc_offset"]) == ("America/Regina", "-06:00")
