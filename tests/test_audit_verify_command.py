import pytest
from django.core.management import call_command

from enforcement.services import audit_record
from tests.test_audit_chain import _tamper

pytestmark = pytest.mark.django_db


def test_audit_verify_reports_an_intact_chain(capsys):
    for i in range(3):
        audit_record(actor=None, action="test.event", details={"i": i})
    call_command("audit_verify")
    assert "3 events verified" in capsys.readouterr().out


def test_audit_verify_exits_non_zero_at_the_first_broken_link(capsys):
    from enforcement.models import AuditEvent

    events = [audit_record(actor=None, action="test.event") for _ in range(4)]
    _tamper(f'UPDATE "{AuditEvent._meta.db_table}" SET actor_label = %s WHERE id = %s', ["someone else", events[1].pk])
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit_verify")
    assert exit_info.value.code == 1
    assert f"broken at event #{events[1].seq}" in capsys.readouterr().err
