"""Consent, audit, access and match records refuse UPDATE and DELETE in the database."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from enforcement import models as em
from enforcement.services import audit_record
from reportin import models as rm
from tests import factories

pytestmark = pytest.mark.django_db


def _refused(sql: str, params) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as exc:
        assert "append-only" in str(exc)
        return True
    return False


@pytest.fixture
def rows():
    officer = factories.staff("officer1")
    client = factories.client(officer=officer)
    factories.consent_both(client)
    _, device = factories.device(client)
    now = timezone.now()
    checkin = rm.CheckIn.objects.create(
        client=client, device=device, latitude=45, longitude=-75, accuracy_m=10, captured_at=now, received_at=now,
        idempotency_key="k", request_fingerprint="f",
    )
    match = rm.FaceMatch.objects.create(
        checkin=checkin, decision="match", threshold=0.5, model_version="m", pipeline_version="p", duration_ms=1, scored_at=now
    )
    access = em.AccessRecord.objects.create(viewer=officer, client=client, object_type="selfie", object_id=checkin.pk, viewed_at=now)
    return {
        em.ConsentRecord: em.ConsentRecord.objects.filter(client=client).first(),
        em.AuditEvent: audit_record(actor=officer, action="test", client=client),
        em.AccessRecord: access,
        rm.FaceMatch: match,
    }


@pytest.mark.parametrize("model", [em.ConsentRecord, em.AuditEvent, em.AccessRecord, rm.FaceMatch], ids=lambda m: m.__name__)
def test_update_and_delete_are_refused_by_the_database(rows, model):
    row = rows[model]
    table = model._meta.db_table
    column = model._meta.pk.column
    assert _refused(f'UPDATE "{table}" SET "{column}" = "{column}" WHERE "{column}" = %s', [row.pk])
    assert _refused(f'DELETE FROM "{table}" WHERE "{column}" = %s', [row.pk])
    assert model.objects.filter(pk=row.pk).exists()


def test_inserting_is_still_allowed(rows):
    before = em.AuditEvent.objects.count()
    audit_record(actor=None, action="another")
    assert em.AuditEvent.objects.count() == before + 1
