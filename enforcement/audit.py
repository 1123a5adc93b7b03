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
"""

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
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
    return head


@dataclass
class PublishedHeads:
    by_seq: dict[int, dict] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def heads_read() -> PublishedHeads:
    """Every head published so far; a line whose MAC does not verify is a problem (a forged or
    damaged record), not a head."""
    heads = PublishedHeads()
    path = _heads_path()
    if not path.exists():
        return heads
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                head = json.loads(line)
                good = hmac.compare_digest(head["mac"], _head_mac(head["seq"], head["hash"], head["occurred_at"], head["published_at"]))
            except (ValueError, KeyError, TypeError):
                good = False
            if not good:
                heads.problems.append(f"line {number} of {path.name} is not a valid published head")
                continue
            heads.by_seq.setdefault(int(head["seq"]), head)
    return heads


def verify(*, batch_size: int = 5000, progress=None) -> ChainReport:
    """Walk the whole chain in order, comparing it with the published heads; report the first
    event whose link is broken, or the head it contradicts."""
    heads = heads_read()
    if heads.problems:
        return ChainReport(0, 0, heads.problems[0])
    expected_seq, prev_hash, checked, compared = 1, GENESIS, 0, 0
    keyed_seen = False
    last_seq = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq")[:batch_size])
        if not batch:
            break
        for event in batch:
            if event.seq != expected_seq:
                return ChainReport(checked, event.seq, f"event #{expected_seq} is missing (next is #{event.seq})", compared)
            if event.prev_hash != prev_hash:
                return ChainReport(checked, event.seq, "does not link to the previous event's hash", compared)
            if hmac.compare_digest(event_hash(event), event.hash):
                keyed_seen = True
            elif keyed_seen or not hmac.compare_digest(event_hash(event, keyed=False), event.hash):
                # An unkeyed hash after a keyed one is a rewrite by someone without the key.
                return ChainReport(checked, event.seq, "its contents do not match its hash (altered)", compared)
            head = heads.by_seq.get(event.seq)
            if head is not None:
                compared += 1
                if head["hash"] != event.hash:
                    return ChainReport(checked, event.seq, f"differs from the head published at {head['published_at']} (rewritten)", compared)
            prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
            if progress:
                progress(checked)
        last_seq = batch[-1].seq
    beyond = [seq for seq in heads.by_seq if seq > last_seq]
    if beyond:
        seq = min(beyond)
        return ChainReport(checked, seq, f"event #{seq}, published as the head at {heads.by_seq[seq]['published_at']}, is missing (truncated)", compared, last_seq)
    return ChainReport(checked, heads_compared=compared, last_seq=last_seq)


def verification_record(*, report: ChainReport, now: datetime | None = None) -> AuditVerification:
    """Keep the outcome of a verification, for the auditors' dashboard."""
    return AuditVerification.objects.create(
        checked_at=now or timezone.now(), ok=report.ok, events_checked=report.checked, heads_compared=report.heads_compared,
        last_seq=report.last_seq, broken_seq=report.broken_seq, problem=report.problem[:500],
    )
