"""Row retention (issue 16.9): check-ins and their match figures once their selfie is deleted
and their period is over (never while an open task needs them), finished messages to people,
and biometric access records after the legal period; done by the long-queue purge, through
the one delete path the append-only tables allow."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from enforcement import services
from enforcement.models import AccessRecord, AuditEvent, Message, Notification
from enforcement.services import task_open
from reportin import retention, tasks
from reportin.models import CheckIn, FaceMatch
from tests import factories
from tests.conftest import make_reporter
from tests.test_reminders import recording_sender, reminded_client  # noqa: F401 (the sender is named by its path)
from tests.test_retention import age, check_in

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def reporter(media_root, settings):
    settings.REPORTIN_RETAIN_SELFIE_DAYS = 90
    settings.REPORTIN_RETAIN_CHECKIN_DAYS = 365
    client = factories.client()
    factories.reference_photo(client)
    factories.consent_both(client)
    _, device = factories.device(client)
    return client, device


def purged_events(data_class: str) -> list[int]:
    return [pk for e in AuditEvent.objects.filter(action="retention.purge") if e.details["data_class"] == data_class for pk in e.details["ids"]]


def test_a_checkin_row_and_its_match_go_after_the_selfie_and_the_period(reporter):
    client, device = reporter
    old, young, needed = check_in(device), check_in(device), check_in(device)
    age(CheckIn.objects.filter(pk__in=[old.pk, needed.pk]), days=400)
    age(CheckIn.objects.filter(pk=young.pk), days=100)
    task_open(client=client, reason="location_outside_area", checkin_id=needed.pk)

    call_command("purge_expired")  # the selfies first (old and young are past 90 days)
    assert set(CheckIn.objects.filter(selfie="").values_list("pk", flat=True)) == {old.pk, young.pk}
    assert CheckIn.objects.count() == 3  # a row goes only once its selfie is gone, on a later run

    call_command("purge_expired")
    assert set(CheckIn.objects.values_list("pk", flat=True)) == {young.pk, needed.pk}
    assert not FaceMatch.objects.filter(checkin_id=old.pk).exists()
    assert FaceMatch.objects.filter(checkin_id__in=[young.pk, needed.pk]).count() == 2
    assert purged_events("checkin_rows") == [old.pk]


def test_the_face_match_table_stays_append_only_outside_retention(reporter):
    _, device = reporter
    checkin = check_in(device)
    with pytest.raises(DatabaseError), transaction.atomic():
        FaceMatch.objects.filter(checkin=checkin).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        FaceMatch.objects.filter(checkin=checkin).update(decision="match")
    if connection.vendor == "postgresql":
        # The retention function applies its own rule: not while the check-in still has its selfie.
        with connection.cursor() as cursor:
            cursor.execute("SELECT reportin_retention_delete_facematches(%s::bigint[])", [[checkin.pk]])
            assert cursor.fetchone()[0] == 0
            # ... and the flag it uses does not outlive it.
            cursor.execute("SELECT coalesce(current_setting('reportin.retention_delete', true), '')")
            assert cursor.fetchone()[0] in ("", "off")
    assert FaceMatch.objects.filter(checkin=checkin).exists()


def test_finished_messages_go_after_their_period(settings):
    settings.REPORTIN_RETAIN_NOTIFICATION_DAYS = 90
    settings.REPORTIN_NOTIFICATION_SENDER = "tests.test_reminders.recording_sender"
    from tests.test_reminders import OPENS

    reminded_client()
    services.notifications_send(now=OPENS)
    sent = Notification.objects.get(status="sent")
    pending = Notification.objects.filter(status="pending")
    assert pending.exists()
    age(Notification.objects.all(), days=91, field="created_at")
    recent = Notification.objects.exclude(pk=sent.pk).first()
    retention.purge_expired(now=NOW)
    assert not Notification.objects.filter(pk=sent.pk).exists()
    assert Notification.objects.filter(pk=recent.pk).exists()  # not finished: kept whatever its age
    assert purged_events("notifications") == [sent.pk]


def test_access_records_go_after_the_legal_period(settings):
    settings.REPORTIN_RETAIN_ACCESS_RECORD_DAYS = 730
    client = factories.client()
    viewer = factories.staff("viewer-retention")
    old = services.biometric_access_record(viewer=viewer, client=client, object_type="selfie", object_id=1, now=NOW - timedelta(days=731))
    kept = services.biometric_access_record(viewer=viewer, client=client, object_type="selfie", object_id=2, now=NOW - timedelta(days=729))
    call_command("purge_expired", "--dry-run")
    retention.purge_expired(now=NOW)
    assert list(AccessRecord.objects.values_list("pk", flat=True)) == [kept.pk]
    assert purged_events("access_records") == [old.pk]
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessRecord.objects.filter(pk=kept.pk).delete()
    if connection.vendor == "postgresql":
        # The database keeps them a year whatever the setting says.
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT reportin_retention_delete_accessrecords(%s::bigint[], %s)", [[kept.pk], NOW - timedelta(days=10)])


def test_the_long_queue_purge_works_through_a_backlog_in_bounded_steps(reporter, monkeypatch, settings):
    settings.REPORTIN_RETAIN_ACCESS_RECORD_DAYS = 365
    monkeypatch.setattr(tasks, "PURGE_STEP", 3)
    client, _ = reporter
    viewer = factories.staff("viewer-backlog")
    for n in range(8):
        services.biometric_access_record(viewer=viewer, client=client, object_type="selfie", object_id=n, now=NOW - timedelta(days=400))
    plan = retention.purge_plan(now=NOW, limit=4)
    assert len(plan["access_records"]) == 4  # a step never lists the whole backlog
    totals = tasks.data_purge_expired()
    assert totals["access_records"] == 8 and not AccessRecord.objects.exists()


def test_messages_and_their_attachments_go_after_their_period_unless_an_open_task_needs_them(media_root, settings, django_capture_on_commit_callbacks):
    settings.REPORTIN_RETAIN_MESSAGE_DAYS = 730
    from enforcement import messages
    from tests import images
    from tests.test_messages import missed

    reporter = make_reporter()
    client = reporter.client
    officer = factories.staff("msg-retention", region_code="gta")
    long_ago = NOW - timedelta(days=731)
    old = messages.message_send_by_person(client=client, device_id=None, body="An old question", attachment=images.jpeg(images.scenery()), now=long_ago)
    answered = messages.message_send_by_officer(client=client, officer=officer, body="An old answer", now=long_ago)
    recent = messages.message_send_by_officer(client=client, officer=officer, body="A recent answer", now=NOW - timedelta(days=700))
    # An old explanation of a miss whose task is still open stays while the task is open.
    window, task, notice = missed(reporter, now=long_ago)
    needed = messages.message_send_by_person(client=client, device_id=None, body="I was in hospital", about=f"window:{window.pk}", now=long_ago)
    attachment = old.attachment.name
    assert attachment and old.attachment.storage.exists(attachment)

    call_command("purge_expired", "--dry-run")
    with django_capture_on_commit_callbacks(execute=True):
        retention.purge_expired(now=NOW)

    assert set(Message.objects.values_list("pk", flat=True)) == {recent.pk, needed.pk}
    assert sorted(purged_events("messages")) == sorted([old.pk, answered.pk])
    assert not old.attachment.storage.exists(attachment)
    # Outside retention the table stays written once.
    with pytest.raises(DatabaseError), transaction.atomic():
        Message.objects.filter(pk=recent.pk).delete()
    if connection.vendor == "postgresql":
        # The database keeps them 30 days whatever the setting says.
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT reportin_retention_delete_messages(%s::bigint[], %s)", [[recent.pk], NOW - timedelta(days=10)])
    assert Message.objects.filter(pk=recent.pk).exists()
