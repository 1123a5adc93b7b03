"""The audit chain against truncation and rewrites (issue 14.4): the hash is keyed (HMAC with
REPORTIN_AUDIT_KEY, which the database never holds) and the head is published out of the
database's reach; `audit.verify` / `audit_verify` compare the chain with every published head.
Each attack below passed verification before."""

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from enforcement import audit
from enforcement.models import AuditEvent, AuditVerification
from enforcement.services import audit_record
from tests import factories
from tests.test_audit_chain import _tamper

pytestmark = pytest.mark.django_db
TABLE = AuditEvent._meta.db_table


def events(n: int) -> list[AuditEvent]:
    return [audit_record(actor=None, action="test.event", details={"i": i}) for i in range(n)]


def rewrite_from(seq: int, *, keyed: bool, change=lambda e: None, renumber: int = 0):
    """An attacker with the database: from `seq` on, change rows (and/or shift their numbers
    down by `renumber`), then re-hash every row after so the chain links again. `keyed` says
    whether the attacker also holds the audit key."""
    rows = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq"))
    previous = AuditEvent.objects.filter(seq__lt=seq).order_by("-seq").first()
    prev_hash = previous.hash if previous else audit.GENESIS
    for event in rows:
        change(event)
        event.seq -= renumber
        event.prev_hash = prev_hash
        event.hash = audit.event_hash(event, keyed=keyed)
        _tamper(
            f'UPDATE "{TABLE}" SET seq = %s, action = %s, actor_label = %s, prev_hash = %s, hash = %s WHERE id = %s',
            [event.seq, event.action, event.actor_label, event.prev_hash, event.hash, event.pk],
        )
        prev_hash = event.hash


def test_deleting_the_newest_events_fails_after_a_head_was_published():
    made = events(6)
    audit.head_publish()
    _tamper(f'DELETE FROM "{TABLE}" WHERE seq > %s', [made[3].seq])
    report = audit.verify()
    assert not report.ok and report.broken_seq == made[4].seq + 1 and "truncated" in report.problem


def test_a_rewrite_re_hashed_from_any_row_fails_without_the_key():
    made = events(5)
    rewrite_from(made[2].seq, keyed=False, change=lambda e: setattr(e, "action", "forged"))
    report = audit.verify()  # no head published yet: the key alone catches it
    assert not report.ok and report.broken_seq == made[2].seq and "altered" in report.problem


def test_a_rewrite_re_hashed_even_with_the_key_contradicts_the_published_head():
    made = events(5)
    audit.head_publish()
    rewrite_from(made[1].seq, keyed=True, change=lambda e: setattr(e, "actor_label", "someone else"))
    report = audit.verify()
    assert not report.ok and report.broken_seq == made[4].seq and "rewritten" in report.problem


def test_a_renumbering_fails_with_or_without_the_key():
    made = events(6)
    audit.head_publish()
    _tamper(f'DELETE FROM "{TABLE}" WHERE seq = %s', [made[2].seq])
    rewrite_from(made[3].seq, keyed=False, renumber=1)
    report = audit.verify()
    assert not report.ok and report.broken_seq == made[2].seq and "altered" in report.problem
    rewrite_from(made[2].seq, keyed=True)  # now as an insider with the key: links and MACs are right
    report = audit.verify()
    assert not report.ok and "truncated" in report.problem and report.broken_seq == made[5].seq


def test_heads_are_appended_to_the_file_and_the_log(caplog):
    events(2)
    with caplog.at_level(logging.INFO, logger="reportin.audit"):
        first = audit.head_publish()
        events(1)
        second = audit.head_publish(now=timezone.now() + timedelta(minutes=1))
    lines = [json.loads(line) for line in Path(settings.REPORTIN_AUDIT_HEADS_FILE).read_text().splitlines()]
    assert [(h["seq"], h["hash"]) for h in lines] == [(first["seq"], first["hash"]), (second["seq"], second["hash"])]
    assert f"audit head seq={second['seq']} hash={second['hash']}" in caplog.text
    assert oct(Path(settings.REPORTIN_AUDIT_HEADS_FILE).stat().st_mode & 0o777) == "0o600"
    report = audit.verify()
    assert report.ok and report.heads_compared == 2


def test_a_forged_head_line_is_reported():
    made = events(3)
    with open(settings.REPORTIN_AUDIT_HEADS_FILE, "a") as handle:
        handle.write(json.dumps({"seq": made[2].seq, "hash": "0" * 64, "occurred_at": "x", "published_at": "y", "mac": "0" * 64}) + "\n")
    report = audit.verify()
    assert not report.ok and "not a valid published head" in report.problem


def test_events_written_before_the_key_verify_as_the_chains_prefix_only():
    # Rows hashed the old way (plain SHA-256), as an existing database holds them.
    made = events(4)
    rewrite_from(made[0].seq, keyed=False)
    assert audit.verify().ok
    events(2)  # new, keyed events after the old ones
    assert audit.verify().ok


def test_audit_verify_keeps_its_outcome_and_the_dashboard_shows_it(client, capsys):
    made = events(3)
    audit.head_publish()
    call_command("audit_verify")
    assert "1 published heads matched" in capsys.readouterr().out
    _tamper(f'DELETE FROM "{TABLE}" WHERE seq = %s', [made[2].seq])
    with pytest.raises(SystemExit):
        call_command("audit_verify")
    latest = AuditVerification.objects.first()
    assert not latest.ok and "truncated" in latest.problem
    factories.staff_login(client, factories.staff("dash-auditor", role="Auditor", region_code=None))
    page = client.get("/admin/accountability/").content.decode()
    assert "Audit trail verification" in page and "FAILED" in page and "truncated" in page


def test_beat_publishes_the_head_every_minute_and_verifies_daily():
    from celery.schedules import crontab

    from config.celery import app
    from enforcement import tasks

    publish = app.conf.beat_schedule["publish-audit-head"]
    assert publish["task"] == "enforcement.tasks.audit_head_publish" and publish["schedule"] == crontab()
    assert app.conf.beat_schedule["verify-audit-trail"]["task"] == "enforcement.tasks.audit_verify"
    made = events(2)
    assert tasks.audit_head_publish() == made[1].seq
    assert json.loads(Path(settings.REPORTIN_AUDIT_HEADS_FILE).read_text())["seq"] == made[1].seq
    assert tasks.audit_verify() is True and AuditVerification.objects.get().heads_compared == 1
