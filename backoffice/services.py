"""Staff sign-in: the throttled, audited password check, clearing a lock, and the second
factor (WebAuthn first, an authenticator app as the fallback). Views, admin actions and tests
all go through these functions."""

import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import webauthn
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from backoffice.models import LoginThrottle, ThrottleScope, TotpDevice, WebAuthnCredential
from enforcement import crypto
from enforcement.models import User
from enforcement.services import audit_record

# Session keys. The verified mark names the user, so a session reused by someone else after a
# login (Django keeps session data across login when the user does not change) proves nothing.
SESSION_VERIFIED = "backoffice_second_factor"
SESSION_CHALLENGE = "backoffice_webauthn_challenge"
# When the session last served a request (the idle timeout, backoffice/middleware.py).
SESSION_LAST_SEEN = "backoffice_last_seen"
TOTP_STEP_SECONDS = 30


class SecondFactorError(Exception):
    """A second-factor step failed; the message is safe to show to the person."""


# --- Password sign-in ------------------------------------------------------------------------


@dataclass
class LoginOutcome:
    user: User | None
    # "" when signed in; otherwise "invalid", "delayed" (a growing delay still runs) or "locked".
    refusal: str = ""
    wait_seconds: int = 0


def login_delay(failures: int) -> int:
    """Seconds the next attempt must wait after `failures` consecutive failures: none for the
    first few typos, then doubling (1, 2, 4, ...) up to the configured ceiling."""
    free = settings.REPORTIN_LOGIN_FREE_FAILURES
    if failures < free:
        return 0
    return min(2 ** (failures - free), settings.REPORTIN_LOGIN_MAX_DELAY_SECONDS)


def _lock_threshold(scope: str) -> int:
    return settings.REPORTIN_LOGIN_LOCK_USERNAME if scope == ThrottleScope.USERNAME else settings.REPORTIN_LOGIN_LOCK_ADDRESS


def _throttle(scope: str, key: str, now: datetime) -> LoginThrottle:
    throttle, _ = LoginThrottle.objects.get_or_create(scope=scope, key=key)
    # Two attempts at once must not both read the old count (both would skip the lock).
    throttle = LoginThrottle.objects.select_for_update().get(pk=throttle.pk)
    memory = timedelta(seconds=settings.REPORTIN_LOGIN_FAILURE_MEMORY_SECONDS)
    if not throttle.is_locked and throttle.last_failure_at and now - throttle.last_failure_at > memory:
        throttle.failures, throttle.blocked_until = 0, None
    return throttle


def _count_failure(throttle: LoginThrottle, now: datetime) -> bool:
    """One more failure; returns True when this one locked it."""
    throttle.failures += 1
    throttle.last_failure_at = now
    throttle.blocked_until = now + timedelta(seconds=login_delay(throttle.failures))
    newly_locked = not throttle.is_locked and throttle.failures >= _lock_threshold(throttle.scope)
    if newly_locked:
        throttle.locked_at = now
    throttle.save()
    return newly_locked


def _audit_lock(throttle: LoginThrottle, now: datetime) -> None:
    audit_record(
        actor=None, actor_label="system", action="staff.login_locked", obj=throttle, now=now,
        details={"scope": throttle.scope, "key": throttle.key, "failures": throttle.failures},
    )


def username_key(username: str) -> str:
    return username.strip().lower()[:150]


@transaction.atomic
def staff_login_attempt(*, username: str, password: str, address: str, request=None, now: datetime | None = None) -> LoginOutcome:
    """Check a staff sign-in against both throttles, then the password. Every attempt is
    audited; a refused one counts against the username and the address, whatever the reason
    (an attempt made during a delay is a failed attempt too)."""
    now = now or timezone.now()
    address = (address or "unknown")[:150]
    throttles = [_throttle(ThrottleScope.USERNAME, username_key(username), now), _throttle(ThrottleScope.ADDRESS, address, now)]
    user, refusal, wait = None, "", 0
    if any(t.is_locked for t in throttles):
        refusal = "locked"
    else:
        wait = max((int((t.blocked_until - now).total_seconds() + 0.999) for t in throttles if t.blocked_until), default=0)
        if wait > 0:
            refusal = "delayed"
        else:
            candidate = authenticate(request, username=username, password=password)
            if candidate is None or not candidate.is_active or not candidate.is_staff:
                refusal = "invalid"
            else:
                user = candidate
    if refusal:
        locked_now = [t for t in throttles if _count_failure(t, now)]
        audit_record(
            actor=None, actor_label=f"sign-in from {address}", action="staff.login_failed", now=now,
            details={"username": username_key(username), "address": address, "reason": refusal},
        )
        for throttle in locked_now:
            _audit_lock(throttle, now)
        if refusal == "delayed":
            wait = max(wait, login_delay(throttles[0].failures), login_delay(throttles[1].failures))
        return LoginOutcome(None, refusal, wait)
    username_throttle = throttles[0]
    username_throttle.failures, username_throttle.blocked_until, username_throttle.last_failure_at = 0, None, None
    username_throttle.save()
    audit_record(actor=user, action="staff.login", now=now, details={"address": address})
    return LoginOutcome(user)


@transaction.atomic
def login_lock_clear(*, throttle_id: int, cleared_by: User, now: datetime | None = None) -> LoginThrottle:
    """A supervisor lifts a lock (and the failures behind it)."""
    if not cleared_by.has_perm("backoffice.clear_login_lock"):
        raise PermissionDenied("Only a supervisor can clear a sign-in lock.")
    now = now or timezone.now()
    throttle = LoginThrottle.objects.select_for_update().get(pk=throttle_id)
    failures, was_locked = throttle.failures, throttle.is_locked
    throttle.failures, throttle.blocked_until, throttle.locked_at, throttle.last_failure_at = 0, None, None, None
    throttle.save()
    audit_record(
        actor=cleared_by, action="staff.login_unlocked", obj=throttle, now=now,
        details={"scope": throttle.scope, "key": throttle.key, "failures": failures, "was_locked": was_locked},
    )
    return throttle


@transaction.atomic
def second_factor_remove(*, factor: TotpDevice | WebAuthnCredential, removed_by: User, now: datetime | None = None) -> None:
    """A superuser removes a lost security key or authenticator app, so that its owner can
    enrol again at the next sign-in (audited: the removal lowers the account's protection)."""
    if not removed_by.is_superuser:
        raise PermissionDenied("Only a superuser can remove a second factor.")
    now = now or timezone.now()
    method = "webauthn" if isinstance(factor, WebAuthnCredential) else "totp"
    audit_record(
        actor=removed_by, action="staff.second_factor_removed", obj=factor.user, now=now,
        details={"method": method, "factor_id": factor.pk, "user": factor.user.username, "name": getattr(factor, "name", "")},
    )
    factor.delete()


def _second_factor_failed(*, user: User, method: str, reason: str, address: str, now: datetime) -> None:
    """A wrong code or key counts against the account like a wrong password: six digits would
    otherwise be guessed in a day."""
    throttle = _throttle(ThrottleScope.USERNAME, username_key(user.get_username()), now)
    locked = _count_failure(throttle, now)
    audit_record(actor=user, action="staff.second_factor_failed", now=now, details={"method": method, "reason": reason, "address": address})
    if locked:
        _audit_lock(throttle, now)


def staff_session_expire(*, user: User, idle_seconds: int, now: datetime | None = None) -> None:
    """Record that an idle session was signed out (the middleware then logs it out)."""
    audit_record(actor=user, action="staff.session_expired", now=now, details={"idle_seconds": idle_seconds})


def account_locked(user: User) -> bool:
    return LoginThrottle.objects.filter(scope=ThrottleScope.USERNAME, key=username_key(user.get_username()), locked_at__isnull=False).exists()


# --- Second factor: who needs it, and the session mark -------------------------------------


def second_factor_required(user) -> bool:
    """Every staff account that can open biometric images (superusers included)."""
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.has_perm("enforcement.view_biometrics"))


def second_factor_enrolled(user) -> bool:
    return WebAuthnCredential.objects.filter(user=user).exists() or TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def second_factor_verified(session, user) -> bool:
    mark = session.get(SESSION_VERIFIED)
    return isinstance(mark, dict) and mark.get("user") == user.pk


def _mark_verified(session, user: User, method: str, now: datetime) -> None:
    session[SESSION_VERIFIED] = {"user": user.pk, "method": method, "at": now.isoformat()}
    session[SESSION_LAST_SEEN] = now.timestamp()
    # A new session id once the second factor is through (the pre-factor id may have leaked).
    if hasattr(session, "cycle_key"):
        session.cycle_key()


def may_enrol(session, user) -> bool:
    """The first factor is enrolled right after the first password sign-in; adding another
    needs a session that already passed the second factor."""
    return not second_factor_enrolled(user) or second_factor_verified(session, user)


# --- TOTP (authenticator app) ----------------------------------------------------------------


def totp_secret(device: TotpDevice) -> str:
    """The device's shared secret, opened for its own row (a secret moved from another
    person's device does not open: crypto.RecordMismatch)."""
    return crypto.decrypt_for(device, device.secret).decode()


def totp_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.get_username(), issuer_name=settings.REPORTIN_SECOND_FACTOR_ISSUER)


@transaction.atomic
def totp_enrol_begin(*, user: User, session, now: datetime | None = None) -> str:
    """A new secret for the person's authenticator app (replacing an unconfirmed one)."""
    if not may_enrol(session, user):
        raise SecondFactorError("Confirm your current second factor before adding another.")
    now = now or timezone.now()
    secret = pyotp.random_base32()
    device, _ = TotpDevice.objects.update_or_create(
        user=user, defaults={"secret": b"", "created_at": now, "confirmed_at": None, "last_step": 0}
    )
    # Sealed to the row's id, known only now (the same row when an unconfirmed one is replaced).
    device.secret = crypto.encrypt(secret.encode(), record=crypto.record_label(device))
    device.save(update_fields=["secret"])
    return secret


def _totp_match(device: TotpDevice, code: str, now: datetime) -> int | None:
    """The step of the code if it is right for now (one step of clock drift either way) and
    newer than the last one accepted."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    try:
        totp = pyotp.TOTP(totp_secret(device))
    except crypto.DecryptionError:
        return None  # a secret that does not open for this device (logged by crypto) matches no code
    current = int(now.timestamp()) // TOTP_STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if step > device.last_step and hmac.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return step
    return None


def totp_verify(*, user: User, code: str, session, address: str = "", now: datetime | None = None) -> None:
    """Check a code from the authenticator app: confirms a new device (enrolment) or verifies
    a confirmed one. Marks the session as having passed the second factor."""
    now = now or timezone.now()
    # The failure is committed before the error is raised: it must count, not roll back.
    with transaction.atomic():
        problem = _totp_check(user=user, code=code, session=session, address=address, now=now)
    if problem:
        raise SecondFactorError(problem)


def _totp_check(*, user: User, code: str, session, address: str, now: datetime) -> str:
    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        return "No authenticator app is set up for this account."
    if account_locked(user):
        return "This account is locked after too many failed attempts; a supervisor can unlock it."
    enrolling = device.confirmed_at is None
    if enrolling and not may_enrol(session, user):
        return "Confirm your current second factor before adding another."
    step = _totp_match(device, code, now)
    if step is None:
        _second_factor_failed(user=user, method="totp", reason="wrong code", address=address, now=now)
        return "That code is not right (or was already used). Enter the current code from your app."
    device.last_step = step
    if enrolling:
        device.confirmed_at = now
    device.save()
    audit_record(
        actor=user, action="staff.second_factor_enrolled" if enrolling else "staff.second_factor_verified", obj=device, now=now,
        details={"method": "totp", "address": address},
    )
    _mark_verified(session, user, "totp", now)
    return ""


# --- WebAuthn (passkeys, security keys) -----------------------------------------------------


def _take_challenge(session, purpose: str) -> bytes:
    stored = session.pop(SESSION_CHALLENGE, None)
    if not isinstance(stored, dict) or stored.get("purpose") != purpose:
        raise SecondFactorError("The request has expired; try again.")
    return base64url_to_bytes(stored["challenge"])


def _keep_challenge(session, purpose: str, challenge: bytes) -> None:
    session[SESSION_CHALLENGE] = {"purpose": purpose, "challenge": bytes_to_base64url(challenge)}


def webauthn_registration_options(*, user: User, session, rp_id: str) -> str:
    """Options (JSON) for navigator.credentials.create(); the challenge waits in the session."""
    if not may_enrol(session, user):
        raise SecondFactorError("Confirm your current second factor before adding another.")
    options = webauthn.generate_registration_options(
        rp_id=rp_id,
        rp_name=settings.REPORTIN_SECOND_FACTOR_ISSUER,
        user_id=str(user.pk).encode(),
        user_name=user.get_username(),
        user_display_name=user.get_full_name() or user.get_username(),
        challenge=secrets.token_bytes(32),
        timeout=settings.REPORTIN_WEBAUTHN_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id)) for c in WebAuthnCredential.objects.filter(user=user)
        ],
    )
    _keep_challenge(session, "register", options.challenge)
    return webauthn.options_to_json(options)


@transaction.atomic
def webauthn_register(*, user: User, session, credential: str, rp_id: str, origin: str, name: str = "", address: str = "", now: datetime | None = None) -> WebAuthnCredential:
    """Store the new key after checking the authenticator's answer to our challenge."""
    now = now or timezone.now()
    if not may_enrol(session, user):
        raise SecondFactorError("Confirm your current second factor before adding another.")
    challenge = _take_challenge(session, "register")
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise SecondFactorError(f"The security key's answer was not accepted: {exc}") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if WebAuthnCredential.objects.filter(credential_id=credential_id).exists():
        raise SecondFactorError("This security key is already registered.")
    key = WebAuthnCredential.objects.create(
        user=user, credential_id=credential_id, public_key=verified.credential_public_key,
        sign_count=verified.sign_count, name=(name or "Security key").strip()[:64], created_at=now, last_used_at=now,
    )
    audit_record(actor=user, action="staff.second_factor_enrolled", obj=key, now=now, details={"method": "webauthn", "address": address})
    _mark_verified(session, user, "webauthn", now)
    return key


def webauthn_authentication_options(*, user: User, session, rp_id: str) -> str:
    keys = list(WebAuthnCredential.objects.filter(user=user))
    if not keys:
        raise SecondFactorError("No security key is registered for this account.")
    options = webauthn.generate_authentication_options(
        rp_id=rp_id,
        challenge=secrets.token_bytes(32),
        timeout=settings.REPORTIN_WEBAUTHN_TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id)) for k in keys],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    _keep_challenge(session, "authenticate", options.challenge)
    return webauthn.options_to_json(options)


def _credential_id_of(credential: str) -> str:
    try:
        raw = json.loads(credential)["rawId"]
        return bytes_to_base64url(base64url_to_bytes(raw))
    except (ValueError, KeyError, TypeError):
        raise SecondFactorError("The security key's answer is malformed.") from None


def webauthn_authenticate(*, user: User, session, credential: str, rp_id: str, origin: str, address: str = "", now: datetime | None = None) -> WebAuthnCredential:
    """Check the key's signature over our challenge; marks the session as having passed."""
    now = now or timezone.now()
    challenge = _take_challenge(session, "authenticate")
    # As for codes: a failure is committed before the error is raised.
    with transaction.atomic():
        key, problem = _webauthn_check(user=user, session=session, credential=credential, challenge=challenge, rp_id=rp_id, origin=origin, address=address, now=now)
    if problem:
        raise SecondFactorError(problem)
    return key


def _webauthn_check(*, user, session, credential, challenge, rp_id, origin, address, now):
    if account_locked(user):
        return None, "This account is locked after too many failed attempts; a supervisor can unlock it."
    key = WebAuthnCredential.objects.select_for_update().filter(user=user, credential_id=_credential_id_of(credential)).first()
    if key is None:
        _second_factor_failed(user=user, method="webauthn", reason="unknown key", address=address, now=now)
        return None, "This security key is not registered for your account."
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=bytes(key.public_key), credential_current_sign_count=key.sign_count,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        _second_factor_failed(user=user, method="webauthn", reason=str(exc)[:200], address=address, now=now)
        return None, f"The security key's answer was not accepted: {exc}"
    key.sign_count, key.last_used_at = verified.new_sign_count, now
    key.save(update_fields=["sign_count", "last_used_at"])
    audit_record(actor=user, action="staff.second_factor_verified", obj=key, now=now, details={"method": "webauthn", "address": address})
    _mark_verified(session, user, "webauthn", now)
    return key, ""
