"""The counters behind the activation lockout. The one service that activates a device
(reportin's device_activate) guards and counts with them; activation_code_issue clears a
client's counters. Time is an argument; callers own the transaction."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from enforcement.errors import RateLimited
from enforcement.models import ActivationThrottle

Scope = ActivationThrottle.Scope

# Failures allowed per key before it locks; each further failure doubles the lock. The UCI-wide
# ceiling is higher than the per-address one: it only has to stop a guess spread over many
# addresses, and while the person's own (UCI, address) key is free it is the only thing a
# stranger can use to lock them out.
FREE_FAILURES = {Scope.UCI_ADDRESS: 5, Scope.ADDRESS: 5, Scope.UCI: 20}
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(hours=24)
FAILURES_FORGOTTEN_AFTER = timedelta(hours=24)


def _hash(value: str) -> str:
    return salted_hmac("reportin.activation", value).hexdigest()


def uci_hash(uci: str) -> str:
    return _hash(f"uci:{uci}")


def _keys(uci: str, client_address: str) -> list[tuple[str, str, str]]:
    """(scope, key hash, uci hash) in the order rows are locked: always the same, no deadlock."""
    of_uci = uci_hash(uci)
    return [
        (Scope.UCI, of_uci, of_uci),
        # \x1f cannot occur in a UCI (digits) or an address: no two pairs share a key.
        (Scope.UCI_ADDRESS, _hash(f"uci_address:{uci}\x1f{client_address}"), of_uci),
        (Scope.ADDRESS, _hash(f"address:{client_address}"), ""),
    ]


def guard(*, uci: str, client_address: str, now: datetime) -> list[ActivationThrottle]:
    """Lock and return the rows of this UCI, this (UCI, address) and this address; raise
    RateLimited if any is locked. The row locks serialise concurrent attempts on the same key,
    so a burst of parallel guesses is counted one by one."""
    rows = []
    for scope, key_hash, of_uci in _keys(uci, client_address):
        ActivationThrottle.objects.get_or_create(scope=scope, key_hash=key_hash, defaults={"uci_hash": of_uci})
        rows.append(ActivationThrottle.objects.select_for_update().get(scope=scope, key_hash=key_hash))
    locked_until = max((row.locked_until for row in rows if row.locked_until and row.locked_until > now), default=None)
    if locked_until is not None:
        raise RateLimited(
            _("Too many failed activation attempts. Try again later."),
            retry_after=math.ceil((locked_until - now).total_seconds()),
        )
    return rows


def count_failure(rows: list[ActivationThrottle], now: datetime) -> None:
    for row in rows:
        forgotten = row.last_failure_at is None or now - row.last_failure_at > FAILURES_FORGOTTEN_AFTER
        row.failures = 1 if forgotten else row.failures + 1
        row.last_failure_at = now
        excess = row.failures - FREE_FAILURES[row.scope]
        row.locked_until = now + min(FIRST_LOCK * 2**excess, MAX_LOCK) if excess >= 0 else None
        row.save(update_fields=["failures", "last_failure_at", "locked_until"])


def forget_failures(rows: list[ActivationThrottle]) -> None:
    """After a successful activation: the person's own counters start again. The address's
    does not, or one valid code would reset a guesser's address."""
    for row in rows:
        if row.scope != Scope.ADDRESS and (row.failures or row.locked_until):
            row.failures, row.locked_until = 0, None
            row.save(update_fields=["failures", "locked_until"])


@dataclass(frozen=True)
class LockState:
    locked_until: datetime | None  # the latest lock on this UCI still running, if any
    failures: int  # failed attempts not yet forgotten, over all addresses
    addresses: int  # addresses they came from
    scope: str | None  # Scope.UCI (every address) or Scope.UCI_ADDRESS (some addresses)


def state(*, uci: str, now: datetime) -> LockState:
    """The activation lock of a UCI as an officer should see it."""
    rows = list(ActivationThrottle.objects.filter(uci_hash=uci_hash(uci), last_failure_at__gt=now - FAILURES_FORGOTTEN_AFTER))
    pairs = [row for row in rows if row.scope == Scope.UCI_ADDRESS]
    locked = [row for row in rows if row.locked_until and row.locked_until > now]
    wide = [row for row in locked if row.scope == Scope.UCI]
    return LockState(
        locked_until=max((row.locked_until for row in locked), default=None),
        failures=sum(row.failures for row in pairs),
        addresses=sum(1 for row in pairs if row.failures),
        scope=Scope.UCI if wide else Scope.UCI_ADDRESS if locked else None,
    )


def clear(*, uci: str, now: datetime) -> LockState | None:
    """Reset every counter of this UCI (all addresses); the address-wide ones stay. Returns the
    state before, or None if there was nothing to clear."""
    before = state(uci=uci, now=now)
    if not before.failures and before.locked_until is None:
        return None
    ActivationThrottle.objects.filter(uci_hash=uci_hash(uci)).delete()
    return before
