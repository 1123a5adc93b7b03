"""The tamper-evident audit chain.

Each AuditEvent's hash covers its own fields and the previous event's hash, and `seq` has no
gaps: changing, deleting or inserting any row breaks the chain at that row. `audit_verify`
walks it. The database additionally refuses UPDATE and DELETE on the table.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from enforcement.models import AuditEvent

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


def compute_hash(*, seq, occurred_at, actor_id, actor_label, action, object_type, object_id, client_id, details, prev_hash) -> str:
    payload = json.dumps(
        [seq, occurred_at.isoformat(), actor_id, actor_label, action, object_type, object_id, client_id, details, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def event_hash(event: AuditEvent) -> str:
    return compute_hash(
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

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify(*, batch_size: int = 5000, progress=None) -> ChainReport:
    """Walk the whole chain in order; report the first event whose link is broken."""
    expected_seq, prev_hash, checked = 1, GENESIS, 0
    last_seq = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq")[:batch_size])
        if not batch:
            return ChainReport(checked)
        for event in batch:
            if event.seq != expected_seq:
                return ChainReport(checked, event.seq, f"event #{expected_seq} is missing (next is #{event.seq})")
            if event.prev_hash != prev_hash:
                return ChainReport(checked, event.seq, "does not link to the previous event's hash")
            if event_hash(event) != event.hash:
                return ChainReport(checked, event.seq, "its contents do not match its hash (altered)")
            prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
            if progress:
                progress(checked)
        last_seq = batch[-1].seq
