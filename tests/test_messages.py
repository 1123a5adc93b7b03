"""Messages between the person and their officers (issue 18.4): both ways through the API and
the task page, each client's own only, bad input refused with nothing stored, every message
audited without its words, the person's answer to a notice going to a task, unread counts."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from enforcement import messages, roles, services
from enforcement.errors import Forbidden
from enforcement.models import AuditEvent, InvestigationTask, Message, Notice, Notification, TaskNote
from reportin import services as reportin_services
from tests import factories, images
from tests.conftest import Reporter, make_reporter, stored_files
from tests.officer import face_task

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def send(reporter, body="Hello, I have a question.", **fields):
    return reporter.api.post("/api/v1/messages", {"body": body, **fields}, format="multipart")


def officer_of(client, name="msg-officer", region_code="gta"):
    return factories.staff(name, region_code=region_code)


def missed(reporter, *, now=None):
    """A window of the reporter's that the sweep has marked missed: its task and its notice."""
    now = now or timezone.now()
    window = factories.window(reporter.client, opens_at=now - timedelta(hours=5), minutes=60, grace_minutes=0)
    services.windows_sweep(now=now, client=reporter.client)
    window.refresh_from_db()
    assert window.status == "missed"
    return window, InvestigationTask.objects.get(window=window), Notice.objects.get(window=window)


def test_a_person_writes_and_sees_their_messages_newest_first_in_pages(reporter):
    for n in range(3):
        answer = send(reporter, f"Message {n}")
        assert answer.status_code == 201, answer.json()
    assert answer.json()["direction"] == "to_officer" and answer.json()["body"] == "Message 2" and answer.json()["about"] is None
    page = reporter.api.get("/api/v1/messages?limit=2").json()
    assert [m["body"] for m in page["results"]] == ["Message 2", "Message 1"] and page["unread"] == 0
    rest = reporter.api.get(f"/api/v1/messages?limit=2&before={page['next_before']}").json()
    assert [m["body"] for m in rest["results"]] == ["Message 0"] and rest["next_before"] is None


def test_an_officers_message_is_announced_without_its_words_counted_unread_then_read():
    reporter = make_reporter(email="ana@example.org")
    officer = officer_of(reporter.client)
    message = messages.message_send_by_officer(client=reporter.client, officer=officer, body="Please call the office today.")
    listing = reporter.api.get("/api/v1/messages").json()
    assert listing["unread"] == 1 and listing["results"][0]["body"] == "Please call the office today."
    assert reporter.api.get("/api/v1/me").json()["unread_messages"] == 1
    # The notice says a message is waiting; the words stay in the app.
    [notice] = reporter.api.get("/api/v1/notices").json()["notices"]
    assert notice["kind"] == "message" and notice["actions"] == ["read_messages"]
    assert "call the office" not in notice["body"]
    [queued] = Notification.objects.filter(notice_id=notice["id"])
    assert queued.channel == "email" and queued.status == "pending"

    read = reporter.api.post(f"/api/v1/messages/{message.pk}/read")
    assert read.status_code == 200 and read.json()["read"] is True
    assert reporter.api.get("/api/v1/messages").json()["unread"] == 0
    assert reporter.api.get("/api/v1/me").json()["unread_messages"] == 0
    assert Notice.objects.get(pk=notice["id"]).read_at is not None
    # Read twice: one read mark, one audit event.
    assert reporter.api.post(f"/api/v1/messages/{message.pk}/read").status_code == 200
    assert AuditEvent.objects.filter(action="message.read", object_id=str(message.pk)).count() == 1


def test_a_person_never_sees_or_touches_another_clients_messages(reporter):
    other = make_reporter()
    officer = officer_of(reporter.client)
    to_other = messages.message_send_by_officer(client=other.client, officer=officer, body="For the other person only.")
    assert send(other, "Mine, not yours.").status_code == 201
    assert reporter.api.get("/api/v1/messages").json()["results"] == []
    assert reporter.api.get("/api/v1/messages").json()["unread"] == 0
    refused = reporter.api.post(f"/api/v1/messages/{to_other.pk}/read")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "message_not_found"
    assert Message.objects.get(pk=to_other.pk).read_at is None
    # Another person's notice or window cannot be answered either.
    _window, _task, notice = missed(other)
    for about in (f"notice:{notice.pk}", f"window:{notice.window_id}"):
        answer = send(reporter, "About someone else's miss", about=about)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_about"


def test_ones_own_message_cannot_be_marked_read_by_oneself(reporter):
    mine = send(reporter).json()
    assert reporter.api.post(f"/api/v1/messages/{mine['id']}/read").status_code == 404


@pytest.mark.parametrize(
    ("fields", "status", "code", "field"),
    [
        ({"body": ""}, 400, "invalid_input", "body"),
        ({"body": "   \n "}, 400, "invalid_input", "body"),
        ({"body": "x" * 2001}, 400, "invalid_input", "body"),
        ({}, 400, "invalid_input", "body"),
        ({"body": "hi", "colour": "red"}, 400, "invalid_input", "colour"),
        ({"body": "hi", "attachment": ("notes.txt", b"just some text")}, 415, "unsupported_attachment", "attachment"),
        ({"body": "hi", "attachment": ("empty.jpg", b"")}, 400, "empty_file", "attachment"),
        ({"body": "hi", "attachment": ("cut.pdf", PDF[:-7])}, 400, "invalid_pdf", "attachment"),
        ({"body": "hi", "attachment": ("big.pdf", b"%PDF-1.4\n" + b"0" * (5 * 1024 * 1024) + b"\n%%EOF\n")}, 413, "attachment_too_large", "attachment"),
        ({"body": "hi", "attachment": ("cut.jpg", images.selfie()[:400])}, 400, "invalid_image", "attachment"),
        ({"body": "hi", "about": "window:abc"}, 400, "invalid_about", "about"),
        ({"body": "hi", "about": "task:1"}, 400, "invalid_about", "about"),
        ({"body": "hi", "about": "notice:999999"}, 400, "invalid_about", "about"),
        ({"body": "hi", "about": "check_in:999999"}, 400, "invalid_about", "about"),
    ],
)
def test_bad_messages_are_refused_and_nothing_is_stored(reporter, media_root, fields, status, code, field):
    if "attachment" in fields:
        name, data = fields["attachment"]
        fields = {**fields, "attachment": SimpleUploadedFile(name, data, "application/octet-stream")}
    answer = reporter.api.post("/api/v1/messages", fields, format="multipart")
    assert answer.status_code == status, answer.json()
    error = answer.json()["error"]
    assert error["code"] == code and field in error["fields"], error
    assert not Message.objects.exists()
    assert stored_files(media_root, "messages") == []
    assert not AuditEvent.objects.filter(action="message.send").exists()


def test_a_window_that_was_not_missed_cannot_be_explained(reporter):
    window = factories.window(reporter.client, opens_at=timezone.now() + timedelta(hours=1), minutes=60)
    answer = send(reporter, "Explaining in advance", about=f"window:{window.pk}")
    assert answer.status_code == 400 and answer.json()["error"]["fields"]["about"] == "Only a missed window can be explained."


def test_a_photo_attachment_is_stored_encrypted_without_metadata_and_a_pdf_as_sent(reporter, media_root):
    photo = send(reporter, "The letter", attachment=SimpleUploadedFile("letter.jpg", images.jpeg(images.scenery(), exif=b"Exif\x00\x00GPS-secret"), "image/jpeg"))
    assert photo.status_code == 201, photo.json()
    assert photo.json()["attachment"] == "photo"
    pdf = send(reporter, "The PDF", attachment=SimpleUploadedFile("letter.pdf", PDF, "application/pdf"))
    assert pdf.json()["attachment"] == "pdf"
    [stored_photo, stored_pdf] = Message.objects.order_by("id")
    on_disk = stored_files(media_root, "messages")
    assert len(on_disk) == 2 and all(b"GPS-secret" not in path.read_bytes() and not path.read_bytes().startswith((b"\xff\xd8", b"%PDF")) for path in on_disk)
    with stored_photo.attachment.open("rb") as handle:
        clean = handle.read()
    assert clean.startswith(b"\xff\xd8") and b"GPS-secret" not in clean and stored_photo.attachment_size == len(clean)
    with stored_pdf.attachment.open("rb") as handle:
        assert handle.read() == PDF


def test_every_message_is_audited_with_ids_and_lengths_never_its_words(reporter):
    words = "My secret reason for missing"
    sent = send(reporter, words).json()
    officer = officer_of(reporter.client)
    reply = messages.message_send_by_officer(client=reporter.client, officer=officer, body="Understood, thank you.")
    person_event = AuditEvent.objects.get(action="message.send", object_id=str(sent["id"]))
    officer_event = AuditEvent.objects.get(action="message.send", object_id=str(reply.pk))
    assert person_event.actor_label == f"client {reporter.client.uci}" and person_event.details["length"] == len(words)
    assert person_event.details["device_id"] == reporter.device.pk and person_event.client_id == reporter.client.pk
    assert officer_event.actor == officer and officer_event.details["direction"] == "to_person"
    for event in (person_event, officer_event):
        assert "secret" not in str(event.details) and "Understood" not in str(event.details)


def test_explaining_a_missed_window_from_its_notice_adds_the_words_to_its_task(reporter):
    window, task, notice = missed(reporter)
    answer = send(reporter, "I was in hospital that day.", about=f"notice:{notice.pk}")
    assert answer.status_code == 201 and answer.json()["about"] == f"notice:{notice.pk}"
    message = Message.objects.get(pk=answer.json()["id"])
    assert message.task == task and message.window == window
    [note] = TaskNote.objects.filter(task=task, kind="person")
    assert note.text == "I was in hospital that day." and note.data == {"message_id": message.pk}
    assert InvestigationTask.objects.filter(client=reporter.client).count() == 1


def test_explaining_a_miss_whose_task_was_closed_opens_a_task_with_the_words(reporter):
    window, task, _notice = missed(reporter)
    officer = officer_of(reporter.client)
    reportin_services.task_decide(task=task, resolution="no_action", note="Nothing to do.", officer=officer)
    task.refresh_from_db()
    assert task.status == "resolved"
    answer = send(reporter, "Sorry, my phone was broken.", about=f"window:{window.pk}")
    assert answer.status_code == 201
    opened = InvestigationTask.objects.get(client=reporter.client, reason="person_answer")
    assert opened.status == "open" and opened.window == window
    assert Message.objects.get(pk=answer.json()["id"]).task == opened
    assert opened.notes.get(kind="person").text == "Sorry, my phone was broken."
    # A second explanation goes to the same open task.
    send(reporter, "And the bus was late.", about=f"window:{window.pk}")
    assert opened.notes.filter(kind="person").count() == 2
    assert InvestigationTask.objects.filter(client=reporter.client, reason="person_answer").count() == 1


def test_contesting_a_check_in_under_review_adds_the_words_to_its_task():
    case = face_task()
    reporter = Reporter(case["client"], *factories.device(case["client"]))
    notice = Notice.objects.get(checkin_id=case["checkin"].pk)
    answer = send(reporter, "That was me, with new glasses.", about=f"check_in:{case['checkin'].pk}")
    assert answer.status_code == 201, answer.json()
    assert Message.objects.get(pk=answer.json()["id"]).task == case["task"]
    assert case["task"].notes.get(kind="person").text == "That was me, with new glasses."
    assert notice.kind == "checkin_review"


def test_only_an_officer_of_the_region_writes_to_the_person(reporter):
    other_region = officer_of(reporter.client, "quebec-msg", region_code="quebec")
    auditor = factories.staff("msg-auditor", role=roles.AUDITOR, region_code=None)
    for user in (other_region, auditor):
        with pytest.raises(Forbidden):
            messages.message_send_by_officer(client=reporter.client, officer=user, body="Hello")
    assert not Message.objects.exists() and not Notice.objects.filter(kind="message").exists()


# --- The task page ---------------------------------------------------------------------------

TASKS = "/admin/enforcement/investigationtask/"


@pytest.fixture
def task_case(reporter):
    _window, task, notice = missed(reporter)
    send(reporter, "I was at the doctor's.", about=f"notice:{notice.pk}")
    send(reporter, "Here is the note.", attachment=SimpleUploadedFile("note.pdf", PDF, "application/pdf"))
    return task


def test_the_task_page_lists_the_clients_messages_and_unread_count(client, reporter, task_case):
    officer = officer_of(reporter.client)
    factories.staff_login(client, officer)
    page = client.get(f"{TASKS}{task_case.pk}/change/").content.decode()
    assert "I was at the doctor&#x27;s." in page and "Here is the note." in page
    assert "2 unread from the person" in page
    pdf = Message.objects.get(body="Here is the note.")
    download = client.get(f"{TASKS}{task_case.pk}/message/{pdf.pk}/attachment/")
    assert download.status_code == 200 and download.content == PDF and download["Content-Disposition"].startswith("attachment")
    assert AuditEvent.objects.filter(action="message.attachment_view", actor=officer).exists()

    assert client.post(f"{TASKS}{task_case.pk}/message/", {"op": "read"}).status_code == 302
    assert messages.unread_count(client=reporter.client, direction="to_officer") == 0
    assert "unread from the person" not in client.get(f"{TASKS}{task_case.pk}/change/").content.decode()


def test_an_officer_writes_from_the_task_page_and_the_person_reads_it(client, reporter, task_case):
    officer = officer_of(reporter.client)
    factories.staff_login(client, officer)
    answer = client.post(
        f"{TASKS}{task_case.pk}/message/",
        {"op": "send", "body": "Thank you. Please check in today.", "attachment": SimpleUploadedFile("p.png", images.png(images.scenery()), "image/png")},
    )
    assert answer.status_code == 302 and answer["Location"].endswith(f"{task_case.pk}/change/#messages")
    message = Message.objects.get(direction="to_person")
    assert message.author == officer and message.task == task_case and message.attachment_kind == "photo"
    assert AuditEvent.objects.filter(action="message.send", actor=officer, object_id=str(message.pk)).exists()
    assert reporter.api.get("/api/v1/messages").json()["results"][0]["body"] == "Thank you. Please check in today."
    assert "Thank you. Please check in today." in client.get(f"{TASKS}{task_case.pk}/change/").content.decode()


@pytest.mark.parametrize("body", ["", "x" * 2001])
def test_a_bad_message_from_the_task_page_is_refused_and_nothing_sent(client, reporter, task_case, body):
    factories.staff_login(client, officer_of(reporter.client))
    answer = client.post(f"{TASKS}{task_case.pk}/message/", {"op": "send", "body": body}, follow=True)
    assert "The message was not sent" in answer.content.decode()
    assert not Message.objects.filter(direction="to_person").exists() and not Notice.objects.filter(kind="message").exists()


def test_an_officer_of_another_region_cannot_write_from_the_task_page(client, reporter, task_case):
    factories.staff_login(client, officer_of(reporter.client, "quebec-msg", region_code="quebec"))
    answer = client.post(f"{TASKS}{task_case.pk}/message/", {"op": "send", "body": "Hello"})
    assert answer.status_code == 403
    assert not Message.objects.filter(direction="to_person").exists()


# --- The client's page (the case view) -------------------------------------------------------

CLIENTS = "/admin/enforcement/client/"


def test_a_message_without_a_task_is_read_and_answered_on_the_clients_page(client, reporter):
    send(reporter, "When is my next interview?")
    officer = officer_of(reporter.client)
    factories.staff_login(client, officer)
    page = client.get(f"{CLIENTS}{reporter.client.pk}/change/").content.decode()
    assert "When is my next interview?" in page and "1 unread from the person" in page and 'id="message-form"' in page
    answer = client.post(f"{CLIENTS}{reporter.client.pk}/message/", {"op": "send", "body": "On Thursday at 10:00."})
    assert answer.status_code == 302 and answer["Location"].endswith(f"{reporter.client.pk}/change/#messages")
    reply = Message.objects.get(direction="to_person")
    assert reply.task is None and reply.author == officer
    assert reporter.api.get("/api/v1/messages").json()["results"][0]["body"] == "On Thursday at 10:00."


def test_an_auditor_reads_the_messages_but_cannot_write_or_mark_them(client, reporter):
    send(reporter, "A question for my officer.")
    auditor = factories.staff("msg-auditor", role=roles.AUDITOR, region_code=None)
    factories.staff_login(client, auditor)
    page = client.get(f"{CLIENTS}{reporter.client.pk}/change/").content.decode()
    assert "A question for my officer." in page and 'id="message-form"' not in page
    for op in ("send", "read"):
        assert client.post(f"{CLIENTS}{reporter.client.pk}/message/", {"op": op, "body": "Hello"}).status_code == 403
    assert not Message.objects.filter(direction="to_person").exists()
    assert messages.unread_count(client=reporter.client, direction="to_officer") == 1


def test_an_error_in_french_for_a_french_phone(reporter):
    answer = reporter.api.post("/api/v1/messages", {"body": "Bonjour", "about": "notice:999999"}, format="multipart", HTTP_ACCEPT_LANGUAGE="fr")
    assert answer.json()["error"]["fields"]["about"] == "Rien de ce qui vous concerne ne porte cette référence."


def test_explaining_a_second_miss_adds_it_to_the_open_answer_task_and_excusing_excuses_both(reporter):
    officer = officer_of(reporter.client)
    now = timezone.now()
    # Two misses, each task closed before the next.
    first, task, _ = missed(reporter, now=now - timedelta(days=1))
    reportin_services.task_decide(task=task, resolution="no_action", note="Nothing to do.", officer=officer)
    second, task, _ = missed(reporter, now=now)
    reportin_services.task_decide(task=task, resolution="no_action", note="Nothing to do.", officer=officer)
    send(reporter, "I was ill.", about=f"window:{first.pk}")
    send(reporter, "Still ill.", about=f"window:{second.pk}")
    [answer] = InvestigationTask.objects.filter(client=reporter.client, reason="person_answer")
    assert answer.window == first and answer.notes.filter(kind="event", window=second).exists()
    assert [note.text for note in answer.notes.filter(kind="person")] == ["I was ill.", "Still ill."]
    reportin_services.task_decide(task=answer, resolution="excused", note="Hospital letter seen.", officer=officer)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == "excused"


@pytest.mark.parametrize("path", ["/api/v1/messages/999999999999999999/read", "/api/v1/messages/abc/read", "/api/v1/messages/9999999999999999999999/read"])
def test_message_ids_that_are_not_the_callers_are_404_in_the_error_shape(reporter, path):
    response = reporter.api.post(path)
    assert response.status_code == 404 and response.json()["error"]["code"] in ("message_not_found", "not_found")


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "before=abc", "before=0", "colour=red"])
def test_a_bad_page_query_is_invalid_input(reporter, query):
    response = reporter.api.get(f"/api/v1/messages?{query}")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"


def test_without_a_token_messages_are_401(reporter):
    for method in ("get", "post"):
        assert getattr(APIClient(), method)("/api/v1/messages").status_code == 401


def test_the_database_keeps_a_message_as_written_and_its_read_mark_once(reporter):
    officer = officer_of(reporter.client)
    message = messages.message_send_by_officer(client=reporter.client, officer=officer, body="As written.")

    def refused(sql, params) -> bool:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
        except DatabaseError as exc:
            assert "append-only" in str(exc)
            return True
        return False

    assert refused('UPDATE "enforcement_message" SET "body" = %s WHERE "id" = %s', ["Changed.", message.pk])
    assert refused('UPDATE "enforcement_message" SET "author_id" = NULL, "direction" = %s WHERE "id" = %s', ["to_officer", message.pk])
    assert refused('DELETE FROM "enforcement_message" WHERE "id" = %s', [message.pk])
    messages.message_mark_read(client=reporter.client, message_id=message.pk)
    assert refused('UPDATE "enforcement_message" SET "read_at" = NULL WHERE "id" = %s', [message.pk])
    stored = Message.objects.get(pk=message.pk)
    assert stored.body == "As written." and stored.read_at is not None


def test_an_attachment_opens_only_for_staff_of_the_clients_region(client, reporter):
    send(reporter, "Here is the note.", attachment=SimpleUploadedFile("note.pdf", PDF, "application/pdf"))
    message = Message.objects.get()
    url = f"{CLIENTS}{reporter.client.pk}/message/{message.pk}/attachment/"
    factories.staff_login(client, officer_of(reporter.client, "quebec-msg", region_code="quebec"))
    assert client.get(url).status_code in (403, 404)
    factories.staff_login(client, officer_of(reporter.client))
    assert client.get(url).content == PDF
    assert AuditEvent.objects.filter(action="message.attachment_view").count() == 1
