"""Retention (purge_expired) and subject access (export_client)."""

import itertools
import json
import zipfile
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import models
from django.utils import timezone

from enforcement import appointments, audit, crypto, services
from enforcement.messages import message_send_by_person
from enforcement.models import AuditEvent, Client, ExportJob, InvestigationTask, PhotoStatus, ReferencePhoto, TaskNote, User
from enforcement.services import circumstances_update, task_blind_answer, task_open
from reportin import retention, scoring
from reportin import services as reportin_services
from reportin.models import CheckIn, CheckInStatus, FaceMatch
from tests import factories, images
from tests.conftest import stored_files

pytestmark = pytest.mark.django_db

_key = itertools.count(1)
NOW = timezone.now()


# Each check-in a different picture of the astronaut: the same picture twice would be
# (rightly) taken for a re-sent photo.
FRAMINGS = itertools.cycle([(0.8, (60, 20)), (1.0, (240, 40)), (0.9, (120, 90)), (0.7, (300, 10)), (0.85, (10, 60)), (0.75, (200, 120))])


def check_in(device, *, scored: bool = True) -> CheckIn:
    scale, position = next(FRAMINGS)
    checkin, _ = reportin_services.checkin_submit(
        device=device, selfie=images.jpeg(images.astronaut_elsewhere(scale=scale, position=position), quality=85), latitude=43.65, longitude=-79.38, accuracy_m=10,
        captured_at=timezone.now(), idempotency_key=f"key-{next(_key)}",
    )
    if scored:
        scoring.checkin_score(checkin_id=checkin.pk)
    return CheckIn.objects.get(pk=checkin.pk)


def age(queryset, *, days: int, field: str = "updated_at") -> None:
    # Arrange: make rows look older (auto_now fields cannot be set through save()).
    queryset.update(**{field: NOW - timedelta(days=days)})


def supervisor():
    return User.objects.filter(username="retention-supervisor").first() or factories.staff("retention-supervisor", role="Supervisor")


def close_case(client: Client, *, days_ago: int) -> None:
    # As an officer closes it on the client's page (client_update stamps case_closed_at).
    services.client_update(client=client, changes={"case_status": "closed"}, updated_by=supervisor(), now=NOW - timedelta(days=days_ago))


def resolve(task: InvestigationTask) -> None:
    reportin_services.task_decide(task=task, resolution="no_action", note="Nothing to do.", officer=supervisor(), now=NOW)


@pytest.fixture
def reporter(media_root):
    client = factories.client()
    factories.reference_photo(client)
    factories.consent_both(client)
    _, device = factories.device(client)
    return client, device


def test_purge_deletes_exactly_what_is_due_and_nothing_an_open_task_needs(reporter, media_root, settings, capsys, django_capture_on_commit_callbacks):
    settings.REPORTIN_RETAIN_SELFIE_DAYS = 90
    client, device = reporter
    old_settled = check_in(device)
    recent = check_in(device)
    needed_by_task = check_in(device)
    task_resolved = check_in(device)
    unsettled = check_in(device, scored=False)
    assert old_settled.status == CheckInStatus.VERIFIED  # the astronaut matches her reference
    assert not InvestigationTask.objects.filter(client=client).exists()
    age(CheckIn.objects.exclude(pk=recent.pk), days=91)
    age(CheckIn.objects.filter(pk=recent.pk), days=89)
    # Resolved first: while a task of a reason is open, a second event joins it (one open task per problem).
    resolved, _ = task_open(client=client, reason="location_outside_area", checkin_id=task_resolved.pk)
    resolve(resolved)
    task_open(client=client, reason="location_outside_area", checkin_id=needed_by_task.pk)

    # Closed cases: long enough ago (due), with an open task (kept), too recently (kept).
    closed_long_ago = factories.client()
    due_photo = factories.reference_photo(closed_long_ago)
    close_case(closed_long_ago, days_ago=366)
    closed_with_task = factories.client()
    kept_photo = factories.reference_photo(closed_with_task)
    factories.consent_both(closed_with_task)
    _, other_device = factories.device(closed_with_task)
    task_open(client=closed_with_task, reason="location_outside_area", checkin_id=check_in(other_device, scored=False).pk)
    close_case(closed_with_task, days_ago=400)
    closed_recently = factories.client()
    recent_photo = factories.reference_photo(closed_recently)
    close_case(closed_recently, days_ago=10)
    # A rejected photo (no face in it), uploaded long ago; its reason stays readable.
    rejected = factories.reference_photo(client, images.scenery())
    assert rejected.status == PhotoStatus.REJECTED
    age(ReferencePhoto.objects.filter(pk=rejected.pk), days=31, field="created_at")
    # Auditors' background export files: a week old (due) and a day old (kept).
    auditor = factories.staff("auditor-retention", role="Auditor", region_code=None)
    old_export, new_export = (
        ExportJob.objects.create(requested_by=auditor, model_label="reportin.facematch", status="done", created_at=NOW - timedelta(days=days))
        for days in (8, 1)
    )
    for job in (old_export, new_export):
        job.file.save("export.csv", ContentFile(b"id,decision\n1,match\n"))

    files_before = len(stored_files(media_root, "selfies")) + len(stored_files(media_root, "references"))
    call_command("purge_expired", "--dry-run")
    out = capsys.readouterr().out
    assert "check-in selfies: 2 due" in out and "reference photos and encodings: 1 due" in out
    assert "rejected reference photos: 1 due" in out and "auditors' CSV export files: 1 due" in out
    assert "nothing was changed" in out
    assert len(stored_files(media_root, "selfies")) + len(stored_files(media_root, "references")) == files_before
    events_before = AuditEvent.objects.count()

    match_before = FaceMatch.objects.get(checkin=old_settled)
    selfie_name = old_settled.selfie.name
    # Files go once the rows no longer point to them (after each item's commit).
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_expired")
    assert "Deleted 5 item(s)" in capsys.readouterr().out

    kept = {c.pk for c in CheckIn.objects.exclude(selfie="")}
    assert kept == {recent.pk, needed_by_task.pk, unsettled.pk} | set(CheckIn.objects.filter(client=closed_with_task).values_list("pk", flat=True))
    assert not (media_root / selfie_name).exists()
    assert FaceMatch.objects.get(checkin=old_settled).best_distance == match_before.best_distance  # the figures stay

    purged = ReferencePhoto.objects.get(pk=due_photo.pk)
    assert (purged.status, purged.image.name, purged.encoding, purged.active) == (PhotoStatus.PURGED, "", None, False)
    assert not (media_root / due_photo.image.name).exists()
    for photo in (kept_photo, recent_photo):
        photo = ReferencePhoto.objects.get(pk=photo.pk)
        assert photo.status == PhotoStatus.READY and photo.encoding is not None and (media_root / photo.image.name).exists()
    gone = ReferencePhoto.objects.get(pk=rejected.pk)
    assert gone.status == PhotoStatus.PURGED and gone.rejection_code == rejected.rejection_code and gone.image.name == ""

    events = {e.details["data_class"]: e.details for e in AuditEvent.objects.filter(action="retention.purge")}
    assert events["selfies"]["ids"] == [old_settled.pk, task_resolved.pk]
    assert events["reference_photos"]["ids"] == [due_photo.pk]
    assert events["rejected_photos"]["ids"] == [rejected.pk]
    assert events["exports"]["ids"] == [old_export.pk]
    assert AuditEvent.objects.count() == events_before + 4
    assert ExportJob.objects.get(pk=old_export.pk).file.name == "" and not (media_root / old_export.file.name).exists()
    assert (media_root / ExportJob.objects.get(pk=new_export.pk).file.name).exists()
    assert audit.verify().ok

    call_command("purge_expired")
    assert "Deleted 0 item(s)" in capsys.readouterr().out


def test_an_open_possible_replay_task_keeps_every_selfie_of_the_client(reporter):
    client, device = reporter
    earlier = check_in(device)
    age(CheckIn.objects.filter(pk=earlier.pk), days=200)
    later = check_in(device, scored=False)
    task_open(client=client, reason="possible_replay", checkin_id=later.pk)
    assert retention.purge_plan(now=timezone.now())["selfies"] == []


def test_purge_is_on_beat_daily():
    from config.celery import app

    app.loader.import_default_modules()  # what a worker does at start
    entry = next(e for e in app.conf.beat_schedule.values() if e["task"] == "reportin.tasks.data_purge_expired")
    assert app.tasks[entry["task"]]  # a real, registered task
    assert str(entry["schedule"]).startswith("<crontab: 30 3 * * *")


# --- Subject access ---------------------------------------------------------------------


def person_with_everything(media_root):
    client = factories.client()
    officer = factories.staff(f"officer-{client.uci}")
    factories.office_hours(client)
    factories.reference_photo(client)
    factories.consent_both(client)
    _, device = factories.device(client)
    checkin = check_in(device)
    circumstances_update(client=client, changes={"address": f"{client.uci} Main St"}, channel="app", checkin_id=checkin.pk)
    task, _ = task_open(client=client, reason="location_outside_area", checkin_id=checkin.pk)
    TaskNote.objects.create(task=task, author=officer, text=f"note about {client.uci}", created_at=timezone.now())
    task_blind_answer(task=task, officer=officer, answer="yes")
    message_send_by_person(client=client, device_id=device.pk, body=f"message from {client.uci}", attachment=b"%PDF-1.4\n%%EOF\n")
    appointment = appointments.appointment_schedule(
        client=client, officer=officer, kind="interview", starts_at=timezone.now() + timedelta(days=10), place=f"office of {client.uci}",
    )
    appointments.appointment_record(appointment=appointment, officer=officer, outcome="missed", now=appointment.starts_at + timedelta(hours=1))
    return client, checkin


def client_linked_models():
    """Every model of the project that holds rows about a client: a foreign key to Client,
    or to a model that has one (proxies share their model's table and rows)."""
    own = [m for m in apps.get_models() if m._meta.app_label in {"enforcement", "reportin"} and not m._meta.proxy]
    direct = {m for m in own if any(isinstance(f, models.ForeignKey) and f.related_model is Client for f in m._meta.concrete_fields)}
    indirect = {
        m for m in own
        if m not in direct and any(isinstance(f, models.ForeignKey) and f.related_model in direct for f in m._meta.concrete_fields)
    }
    return direct | indirect | {Client}


def test_export_holds_every_record_of_the_person_and_nobody_elses(media_root, tmp_path, capsys):
    person, checkin = person_with_everything(media_root)
    other, _ = person_with_everything(media_root)

    held = {label: set(qs.values_list("pk", flat=True)) for label, qs in retention.client_records(person).items()}
    out = tmp_path / "export.zip"
    call_command("export_client", person.uci, "--out", str(out), "--by", "auditor-1")
    assert f"records of client {person.uci}" in capsys.readouterr().out
    assert out.stat().st_mode & 0o777 == 0o600

    with zipfile.ZipFile(out) as archive:
        data = json.loads(archive.read("data.json"))
        records = data["records"]
        # Every kind of record the project holds about a client is in the export ...
        linked = {m._meta.label_lower for m in client_linked_models()}
        assert linked <= set(records), linked - set(records)
        for label, mine in held.items():
            model = apps.get_model(label)
            exported = {row["id"] for row in records[label]}
            assert exported == mine, label
            # ... and none of anybody else's.
            others = set(model.objects.exclude(pk__in=mine).values_list("pk", flat=True))
            assert not exported & others, label
        for label in ("reportin.checkin", "enforcement.appointment", "enforcement.referencephoto", "enforcement.consentrecord", "enforcement.tasknote", "enforcement.circumstancechange", "reportin.facematch"):
            assert records[label], f"the test data should include {label}"
        assert other.uci not in archive.read("data.json").decode()

        row = next(r for r in records["reportin.checkin"] if r["id"] == checkin.pk)
        with checkin.selfie.open("rb") as handle:
            assert archive.read(row["selfie_file"]) == handle.read()  # decrypted, as stored
        photo = records["enforcement.referencephoto"][0]
        assert len(photo["encoding"]) == 128
        assert archive.read(photo["image_file"])[:2] == b"\xff\xd8"
        [message] = records["enforcement.message"]
        assert archive.read(message["attachment_file"]) == b"%PDF-1.4\n%%EOF\n"
        assert not any("token_hash" in r for r in records["reportin.device"])
        assert not any("code_hash" in r for r in records["enforcement.activationcode"])

    event = AuditEvent.objects.filter(action="client.export").get()
    assert event.client_id == person.pk and event.actor_label == "auditor-1"
    assert event.details["counts"]["reportin.checkin"] == 1


def test_export_refuses_unknown_people_and_existing_files(media_root, tmp_path):
    client = factories.client()
    with pytest.raises(CommandError, match="No client with UCI"):
        call_command("export_client", "99999999", "--out", str(tmp_path / "x.zip"))
    existing = tmp_path / "exists.zip"
    existing.write_bytes(b"keep me")
    with pytest.raises(CommandError, match="already exists"):
        call_command("export_client", client.uci, "--out", str(existing))
    assert existing.read_bytes() == b"keep me"
    assert not AuditEvent.objects.filter(action="client.export").exists()


def test_export_reads_images_sealed_with_an_older_key(media_root, tmp_path, settings):
    client = factories.client()
    photo = factories.reference_photo(client)
    settings.REPORTIN_ENCRYPTION_KEYS = crypto.new_key_spec("newer") + "," + settings.REPORTIN_ENCRYPTION_KEYS
    assert crypto.key_id_of(bytes(ReferencePhoto.objects.get(pk=photo.pk).encoding)) != "newer"
    call_command("export_client", client.uci, "--out", str(tmp_path / "old-key.zip"))
    with zipfile.ZipFile(tmp_path / "old-key.zip") as archive:
        assert "missing.txt" not in archive.namelist()
