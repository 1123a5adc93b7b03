"""Issue 14.4 (the rest): with an object store, the audit heads are also published as
write-once objects under S3 Object Lock retention, and `audit_verify` reads them from there.

Against a real SeaweedFS (tests/objectstore.py): its Object Lock is enforced, so the attacks
below are performed, not imagined. The attacker holds the database and the host's disk (the
heads file) and even the application's own S3 credentials, but not the audit key."""

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management import call_command

from enforcement import audit
from enforcement.models import AuditEvent
from enforcement.services import audit_record
from tests.test_audit_chain import _tamper

pytestmark = pytest.mark.django_db
TABLE = AuditEvent._meta.db_table


def events(n: int) -> list[AuditEvent]:
    return [audit_record(actor=None, action="test.event", details={"i": i}) for i in range(n)]


@pytest.fixture
def heads(s3_bucket, capsys):
    """The deployment step (`storage_bucket`) makes the heads bucket with Object Lock."""
    call_command("storage_bucket")
    out = capsys.readouterr().out
    store = audit.heads_bucket()
    assert store.bucket == f"{s3_bucket}-audit-heads"
    assert f"Created the audit heads bucket s3://{store.bucket} with Object Lock" in out and "Object Lock on" in out
    return store


def _versions(store, key: str) -> list[dict]:
    answer = store.client.list_object_versions(Bucket=store.bucket, Prefix=key)
    return [v for v in answer.get("Versions", []) if v["Key"] == key]


def test_each_head_is_a_locked_write_once_object(heads):
    made = events(3)
    head = audit.head_publish()
    key = heads.key(made[2].seq)
    stored = heads.client.get_object(Bucket=heads.bucket, Key=key)
    assert json.loads(stored["Body"].read()) == head
    assert stored["ObjectLockMode"] == "COMPLIANCE"
    days = (stored["ObjectLockRetainUntilDate"] - stored["LastModified"]).days
    assert days >= settings.REPORTIN_AUDIT_HEADS_RETENTION_DAYS - 1
    # Published again a minute later with no new event: the object is not written again.
    audit.head_publish()
    assert len(_versions(heads, key)) == 1

    # With the application's own credentials, the locked head can be neither deleted nor replaced.
    version = _versions(heads, key)[0]["VersionId"]
    with pytest.raises(ClientError) as refused:
        heads.client.delete_object(Bucket=heads.bucket, Key=key, VersionId=version)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    heads.client.put_object(Bucket=heads.bucket, Key=key, Body=b"overwritten")  # only adds a version
    assert version in [v["VersionId"] for v in _versions(heads, key)]
    # verify reads every version: the overwrite is a forged head, reported as such.
    report = audit.verify()
    assert not report.ok and f"s3://{heads.bucket}/{key}" in report.problem and "not a valid published head" in report.problem


def test_truncation_is_caught_by_the_bucket_after_the_heads_file_is_gone(heads, capsys):
    made = events(6)
    audit.head_publish()
    report = audit.verify()
    assert report.ok and report.heads_compared == 1 and audit.heads_read().from_bucket == 1  # one head, in both places
    # The attacker deletes the newest events and the heads file (and a delete marker in the bucket).
    _tamper(f'DELETE FROM "{TABLE}" WHERE seq > %s', [made[3].seq])
    Path(settings.REPORTIN_AUDIT_HEADS_FILE).unlink()
    heads.client.delete_object(Bucket=heads.bucket, Key=heads.key(made[5].seq))
    report = audit.verify()
    assert not report.ok and "truncated" in report.problem and report.broken_seq == made[5].seq
    capsys.readouterr()
    with pytest.raises(SystemExit):
        call_command("audit_verify")
    assert "truncated" in capsys.readouterr().err


def test_a_rewrite_with_the_key_contradicts_the_bucket_head(heads):
    from tests.test_audit_heads import rewrite_from

    made = events(4)
    audit.head_publish()
    Path(settings.REPORTIN_AUDIT_HEADS_FILE).unlink()
    rewrite_from(made[1].seq, keyed=True, change=lambda e: setattr(e, "action", "forged"))
    report = audit.verify()
    assert not report.ok and "rewritten" in report.problem and report.broken_seq == made[3].seq


def test_heads_that_cannot_be_read_fail_the_verification(heads, settings):
    events(2)
    audit.head_publish()
    settings.REPORTIN_AUDIT_HEADS_BUCKET = "reportin-no-such-heads-bucket"
    report = audit.verify()
    assert not report.ok and "could not be read" in report.problem
