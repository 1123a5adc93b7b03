"""The tamper-evident audit chain.

Each AuditEvent's hash covers its own fields and the previous event's hash, and `seq` has no
gaps: changing, deleting or inserting any row breaks the chain at that row. `audit_verify`
walks it. The database additionally refuses UPDATE and DELETE on the table.

Two things a database alone cannot give, added here:
- The hash is an HMAC with REPORTIN_AUDIT_KEY, a key from the environment that the database
  (and whoever holds only the database) never sees: rows rewritten and re-hashed from any
  point, or renumbered, no longer verify. Events written before the key existed carry a plain
  SHA-256; they verify as such only as the chain's prefix, before the first keyed event.
- Deleting the newest events leaves a shorter chain that is still consistent. So the head
  (seq, hash, time) is published every minute (beat: `audit_head_publish`) where the database
  cannot rewrite it: appended (O_APPEND) to REPORTIN_AUDIT_HEADS_FILE, and to the log. `verify`
  compares the chain with every published head: a head whose event is missing (truncation) or
  differs (a rewrite) fails it.
- With an object store, each new head is also an object of its own in a bucket with S3 Object
  Lock (`heads_bucket`): put only if absent (If-None-Match), under COMPLIANCE retention, so
  that neither the application's credentials nor anyone else can delete or replace it before
  the retention ends (an overwrite only adds a version; `verify` reads every version).
  SeaweedFS (4.48, development and CI) enforces it: deleting a locked version is refused.
"""

import hashlib
import hmac
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from enforcement.models import AuditEvent, AuditVerification

logger = logging.getLogger("reportin.audit")

GENESIS = "0" * 64
# An arbitrary constant naming the advisory lock that serialises appends on PostgreSQL.
_CHAIN_LOCK = 72_011_001


def _plain(value):
    """JSON-safe details whose hash survives a round trip through the database: PostgreSQL's
    jsonb rewrites numbers (1e20 comes back as an integer), so non-integers are kept as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _key() -> bytes:
    return settings.REPORTIN_AUDIT_KEY.encode()


def compute_hash(*, seq, occurred_at, actor_id, actor_label, action, object_type, object_id, client_id, details, prev_hash, keyed: bool = True) -> str:
    payload = json.dumps(
        [seq, occurred_at.isoformat(), actor_id, actor_label, action, object_type, object_id, client_id, details, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    if keyed:
        return hmac.new(_key(), payload, hashlib.sha256).hexdigest()
    return hashlib.sha256(payload).hexdigest()


def event_hash(event: AuditEvent, *, keyed: bool = True) -> str:
    return compute_hash(
        keyed=keyed,
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        client_id=event.client_id,
        details=event.details,
        prev_hash=event.prev_hash,
    )


def append(*, actor, actor_label: str, action: str, object_type: str, object_id: str, client_id, details: dict, now: datetime | None = None) -> AuditEvent:
    """Append one event to the chain. Runs in (or opens) a transaction and holds the chain
    lock until it commits, so concurrent writers cannot fork the chain."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        # On SQLite, transactions begin IMMEDIATE (config/settings.py): writers are serialised.
        last = AuditEvent.objects.order_by("-seq").only("seq", "hash").first()
        event = AuditEvent(
            seq=(last.seq + 1) if last else 1,
            occurred_at=(now or timezone.now()),
            actor=actor,
            actor_label=actor_label[:150],
            action=action,
            object_type=object_type,
            object_id=str(object_id) if object_id is not None else "",
            client_id=client_id,
            details=_plain(details or {}),
            prev_hash=last.hash if last else GENESIS,
        )
        event.hash = event_hash(event)
        event.save(force_insert=True)
    return event


@dataclass
class ChainReport:
    checked: int
    broken_seq: int | None = None
    problem: str = ""
    heads_compared: int = 0
    last_seq: int = 0

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


# --- Published heads ---------------------------------------------------------------------------


def _heads_path() -> Path:
    return Path(settings.REPORTIN_AUDIT_HEADS_FILE)


def _head_mac(seq: int, hash_: str, occurred_at: str, published_at: str) -> str:
    return hmac.new(_key(), f"head|{seq}|{hash_}|{occurred_at}|{published_at}".encode(), hashlib.sha256).hexdigest()


def head_publish(*, now: datetime | None = None) -> dict | None:
    """Append the chain's head to the heads file (O_APPEND: a write can only add at the end)
    and to the log. Returns what was published, or None for an empty chain."""
    now = now or timezone.now()
    last = AuditEvent.objects.order_by("-seq").only("seq", "hash", "occurred_at").first()
    if last is None:
        return None
    head = {"seq": last.seq, "hash": last.hash, "occurred_at": last.occurred_at.isoformat(), "published_at": now.isoformat()}
    head["mac"] = _head_mac(head["seq"], head["hash"], head["occurred_at"], head["published_at"])
    path = _heads_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(head, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    logger.info("audit head seq=%s hash=%s occurred_at=%s published_at=%s", head["seq"], head["hash"], head["occurred_at"], head["published_at"])
    head_put(head, now=now)
    return head


@dataclass
class HeadsBucket:
    client: object
    bucket: str
    prefix: str

    def key(self, seq: int) -> str:
        return f"{self.prefix}{seq:012d}.json"


def heads_bucket() -> HeadsBucket | None:
    """Where heads go in the object store: None when files are on the local disk."""
    from django.core.files.storage import storages

    storage = storages["default"]
    if not hasattr(storage, "bucket_name"):
        return None
    location = (getattr(storage, "location", "") or "").strip("/")
    return HeadsBucket(
        client=storage.connection.meta.client,
        bucket=settings.REPORTIN_AUDIT_HEADS_BUCKET or f"{storage.bucket_name}-audit-heads",
        prefix=f"{location}/audit-heads/" if location else "audit-heads/",
    )


def head_put(head: dict, *, now: datetime) -> str | None:
    """Put a head in the heads bucket as a write-once object (one per seq: a head published
    again with no new event changes nothing), under Object Lock retention. Returns the key."""
    store = heads_bucket()
    if store is None:
        return None
    from botocore.exceptions import ClientError

    key = store.key(head["seq"])
    extra = {}
    days = settings.REPORTIN_AUDIT_HEADS_RETENTION_DAYS
    if days:
        extra = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": now + timedelta(days=days)}
    try:
        store.client.put_object(
            Bucket=store.bucket, Key=key, Body=(json.dumps(head, sort_keys=True) + "\n").encode(),
            ContentType="application/json", IfNoneMatch="*", **extra,
        )
    except ClientError as exc:
        answer = exc.response
        if answer.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412 or answer.get("Error", {}).get("Code") == "PreconditionFailed":
            return key  # this head is published there already; it is never replaced
        logger.error("audit head seq=%s could not be put in s3://%s/%s: %s", head["seq"], store.bucket, key, exc)
        raise
    return key


@dataclass
class PublishedHeads:
    by_seq: dict[int, list[dict]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    from_bucket: int = 0

    def add(self, text: str, where: str) -> bool:
        """Add a head given as its JSON line; one whose MAC does not verify is a problem (a
        forged or damaged record), not a head."""
        try:
            head = json.loads(text)
            good = hmac.compare_digest(head["mac"], _head_mac(head["seq"], head["hash"], head["occurred_at"], head["published_at"]))
        except (ValueError, KeyError, TypeError):
            good = False
        if not good:
            self.problems.append(f"{where} is not a valid published head")
            return False
        same = self.by_seq.setdefault(int(head["seq"]), [])
        if all(other["hash"] != head["hash"] for other in same):
            same.append(head)
        return True


def heads_read() -> PublishedHeads:
    """Every head published so far: the heads file, and every version of every object in the
    heads bucket when there is one (a bucket that cannot be read is a problem: hiding the heads
    must not make a truncated chain pass)."""
    heads = PublishedHeads()
    path = _heads_path()
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                heads.add(line, f"line {number} of {path.name}")
    store = heads_bucket()
    if store is not None:
        try:
            pages = store.client.get_paginator("list_object_versions").paginate(Bucket=store.bucket, Prefix=store.prefix)
            for page in pages:
                for version in page.get("Versions", []):
                    body = store.client.get_object(Bucket=store.bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"]
                    with body:
                        if heads.add(body.read().decode("utf-8", errors="replace"), f"s3://{store.bucket}/{version['Key']} ({version['VersionId']})"):
                            heads.from_bucket += 1
        except Exception as exc:  # botocore's errors, a refused connection: the heads are unavailable
            heads.problems.append(f"the heads in s3://{store.bucket}/{store.prefix} could not be read: {type(exc).__name__}: {exc}")
    return heads


@dataclass
class VerifyCursor:
    """Where a verification stopped: the last event checked and what the next one must link
    to. Plain values, so a worker can hand it to the task that continues (JSON)."""

    last_seq: int = 0
    prev_hash: str = GENESIS
    checked: int = 0
    compared: int = 0
    keyed_seen: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def verify(*, batch_size: int = 5000, progress=None) -> ChainReport:
    """Walk the whole chain in order, comparing it with the published heads; report the first
    event whose link is broken, or the head it contradicts."""
    report, _cursor = verify_part(batch_size=batch_size, progress=progress)
    return report


def verify_part(
    *, cursor: VerifyCursor | None = None, deadline: float | None = None, batch_size: int = 5000, progress=None
) -> tuple[ChainReport | None, VerifyCursor]:
    """Verify from `cursor` (the start by default) until the end of the chain, or until
    `time.monotonic()` passes `deadline` after a batch: then (None, where it stopped) is
    returned, and a later call with that cursor goes on. The heads are read again each call."""
    heads = heads_read()
    if heads.problems:
        return ChainReport(0, 0, heads.problems[0]), cursor or VerifyCursor()
    at = cursor or VerifyCursor()
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=at.last_seq).order_by("seq")[:batch_size])
        if not batch:
            break
        for event in batch:
            expected_seq = at.last_seq + 1
            if event.seq != expected_seq:
                return ChainReport(at.checked, event.seq, f"event #{expected_seq} is missing (next is #{event.seq})", at.compared), at
            if event.prev_hash != at.prev_hash:
                return ChainReport(at.checked, event.seq, "does not link to the previous event's hash", at.compared), at
            if hmac.compare_digest(event_hash(event), event.hash):
                at.keyed_seen = True
            elif at.keyed_seen or not hmac.compare_digest(event_hash(event, keyed=False), event.hash):
                # An unkeyed hash after a keyed one is a rewrite by someone without the key.
                return ChainReport(at.checked, event.seq, "its contents do not match its hash (altered)", at.compared), at
            for head in heads.by_seq.get(event.seq, ()):
                at.compared += 1
                if head["hash"] != event.hash:
                    return ChainReport(at.checked, event.seq, f"differs from the head published at {head['published_at']} (rewritten)", at.compared), at
            at.prev_hash, at.last_seq, at.checked = event.hash, event.seq, at.checked + 1
            if progress:
                progress(at.checked)
        if len(batch) < batch_size:
            break  # the end of the chain
        if deadline is not None and time.monotonic() >= deadline:
            return None, at
    beyond = [seq for seq in heads.by_seq if seq > at.last_seq]
    if beyond:
        seq = min(beyond)
        return ChainReport(at.checked, seq, f"event #{seq}, published as the head at {heads.by_seq[seq][0]['published_at']}, is missing (truncated)", at.compared, at.last_seq), at
    return ChainReport(at.checked, heads_compared=at.compared, last_seq=at.last_seq), at


def verification_record(*, report: ChainReport, now: datetime | None = None) -> AuditVerification:
    """Keep the outcome of a verification, for the auditors' dashboard."""
    return AuditVerification.objects.create(
        checked_at=now or timezone.now(), ok=report.ok, events_checked=report.checked, heads_compared=report.heads_compared,
        last_seq=report.last_seq, broken_seq=report.broken_seq, problem=report.problem[:500],
    )
