"""Staff sign-in (issue 14.3): throttled by username and by address with growing delays, a lock
a supervisor sees and clears in admin, every attempt audited; a second factor before any admin
page for accounts that can open biometric images; a 15-minute idle timeout; browser-session
cookies. The WebAuthn ceremony itself is tested in a real browser (test_staff_webauthn_browser)."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice import services
from backoffice.models import LoginThrottle, TotpDevice
from backoffice.services import SESSION_LAST_SEEN
from enforcement import roles
from enforcement.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "test-password-123"  # tests.factories.staff
LOGIN = "/admin/login/"


def sign_in(http: Client, username: str, password: str, address: str = "203.0.113.7"):
    return http.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def signed_in(http: Client) -> bool:
    return "_auth_user_id" in http.session


def test_thirty_wrong_passwords_lock_the_account_and_the_right_one_is_then_refused(client):
    factories.staff("target-officer")
    for attempt in range(30):
        response = sign_in(client, "target-officer", f"guess-{attempt}")
        assert response.status_code == 200 and not signed_in(client)
    response = sign_in(client, "target-officer", PASSWORD)
    assert response.status_code == 200 and not signed_in(client)
    assert "locked" in response.content.decode()
    throttle = LoginThrottle.objects.get(scope="username", key="target-officer")
    assert throttle.is_locked and throttle.failures == 31


def test_delays_grow_after_a_few_failures_and_attempts_during_a_delay_are_refused_unread():
    factories.staff("slow-typist")
    now = timezone.now()
    for second in range(3):  # the first typos cost nothing
        outcome = services.staff_login_attempt(username="slow-typist", password="nope", address="198.51.100.1", now=now + timedelta(seconds=second))
        assert outcome.refusal == "invalid"
    assert [services.login_delay(n) for n in range(1, 9)] == [0, 0, 1, 2, 4, 8, 16, 32]
    # During the delay even the right password is refused without being checked.
    during = services.staff_login_attempt(username="slow-typist", password=PASSWORD, address="198.51.100.1", now=now + timedelta(seconds=2.5))
    assert during.refusal == "delayed" and during.user is None and during.wait_seconds >= 1
    # That attempt counted: the delay is now 2 s from it.
    assert LoginThrottle.objects.get(scope="username", key="slow-typist").failures == 4
    too_soon = services.staff_login_attempt(username="slow-typist", password=PASSWORD, address="198.51.100.1", now=now + timedelta(seconds=4))
    assert too_soon.refusal == "delayed"
    later = services.staff_login_attempt(username="slow-typist", password=PASSWORD, address="198.51.100.1", now=now + timedelta(seconds=60))
    assert later.refusal == "" and later.user.username == "slow-typist"
    # A success forgets the username's failures (the address keeps its own count).
    assert LoginThrottle.objects.get(scope="username", key="slow-typist").failures == 0
    assert LoginThrottle.objects.get(scope="address", key="198.51.100.1").failures == 5


def test_one_address_guessing_many_usernames_is_locked_out(settings):
    settings.REPORTIN_LOGIN_LOCK_ADDRESS = 5
    factories.staff("real-officer")
    now = timezone.now()
    for n in range(5):
        services.staff_login_attempt(username=f"user-{n}", password="x", address="192.0.2.50", now=now + timedelta(hours=n))
    outcome = services.staff_login_attempt(username="real-officer", password=PASSWORD, address="192.0.2.50", now=now + timedelta(hours=6))
    assert outcome.refusal == "locked"
    # The same account from another address is not affected.
    elsewhere = services.staff_login_attempt(username="real-officer", password=PASSWORD, address="192.0.2.99", now=now + timedelta(hours=6))
    assert elsewhere.user is not None


def test_every_sign_in_failure_and_lock_is_in_the_audit_trail(settings):
    settings.REPORTIN_LOGIN_LOCK_USERNAME = 3
    officer = factories.staff("audited-officer")
    now = timezone.now()
    services.staff_login_attempt(username="audited-officer", password=PASSWORD, address="198.51.100.2", now=now)
    for n in range(3):
        services.staff_login_attempt(username="Audited-Officer ", password="wrong", address="198.51.100.2", now=now + timedelta(minutes=n + 1))
    login = AuditEvent.objects.get(action="staff.login")
    assert login.actor == officer and login.details["address"] == "198.51.100.2"
    failures = AuditEvent.objects.filter(action="staff.login_failed").order_by("seq")
    assert failures.count() == 3 and {e.details["username"] for e in failures} == {"audited-officer"}
    lock = AuditEvent.objects.get(action="staff.login_locked")
    assert lock.details == {"scope": "username", "key": "audited-officer", "failures": 3}


def test_a_supervisor_sees_the_lock_in_admin_and_clears_it(client, settings):
    settings.REPORTIN_LOGIN_LOCK_USERNAME = 3
    factories.staff("locked-officer")
    for n in range(3):
        sign_in(client, "locked-officer", f"wrong-{n}")
    sign_in(client, "locked-officer", PASSWORD)
    assert not signed_in(client)

    supervisor = factories.staff("unlocking-supervisor", role=roles.SUPERVISOR)
    desk = Client()
    factories.staff_login(desk, supervisor)
    listing = desk.get(reverse("admin:backoffice_loginthrottle_changelist") + "?locked_at__isempty=0")
    assert listing.status_code == 200 and "locked-officer" in listing.content.decode()
    throttle = LoginThrottle.objects.get(scope="username", key="locked-officer")
    response = desk.post(
        reverse("admin:backoffice_loginthrottle_changelist"),
        {"action": "clear_lock", "_selected_action": [throttle.pk]},
    )
    assert response.status_code == 302
    throttle.refresh_from_db()
    assert not throttle.is_locked and throttle.failures == 0
    unlock = AuditEvent.objects.get(action="staff.login_unlocked")
    assert unlock.actor == supervisor and unlock.details["key"] == "locked-officer" and unlock.details["was_locked"]

    # (From the officer's own desk: the guessing address keeps its own count and delay.)
    sign_in(client, "locked-officer", PASSWORD, address="198.51.100.77")
    assert signed_in(client)


def test_officers_and_auditors_cannot_clear_locks(client):
    throttle, _ = LoginThrottle.objects.get_or_create(scope="username", key="someone", defaults={"failures": 10, "locked_at": timezone.now()})
    for user in (factories.staff("plain-officer"), factories.staff("plain-auditor", role=roles.AUDITOR, region_code=None)):
        with pytest.raises(Exception, match="supervisor"):
            services.login_lock_clear(throttle_id=throttle.pk, cleared_by=user)
    auditor_desk = Client()
    factories.staff_login(auditor_desk, factories.staff("auditor-2", role=roles.AUDITOR, region_code=None))
    auditor_desk.post(reverse("admin:backoffice_loginthrottle_changelist"), {"action": "clear_lock", "_selected_action": [throttle.pk]})
    throttle.refresh_from_db()
    assert throttle.is_locked


def test_an_officer_meets_the_second_factor_before_any_admin_page_and_enrols_an_authenticator_app(client):
    officer = factories.staff("new-officer")
    response = sign_in(client, "new-officer", PASSWORD)
    assert response.status_code == 302 and signed_in(client)
    pages = ("/admin/", "/admin/enforcement/investigationtask/", "/admin/accountability/", "/admin/enforcement/client/",
             "/admin/enforcement/investigationtask/1/selfie/", "/admin/enforcement/investigationtask/1/reference/1/")
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302 and response.url.startswith(reverse("backoffice:second-factor")), page
    enrolment = client.get(response.url)
    assert enrolment.status_code == 200 and b"Register a security key or passkey" in enrolment.content

    setup = client.get(reverse("backoffice:totp-setup"))
    assert setup.status_code == 200
    secret = services.totp_secret(TotpDevice.objects.get(user=officer))
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in setup.content.decode()
    wrong = client.post(reverse("backoffice:totp"), {"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111", "setup": "1"})
    assert wrong.status_code == 400 and client.get("/admin/").status_code == 302
    right = client.post(reverse("backoffice:totp"), {"code": pyotp.TOTP(secret).now(), "setup": "1", "next": "/admin/enforcement/client/"})
    assert right.status_code == 302 and right.url == "/admin/enforcement/client/"
    assert client.get("/admin/enforcement/client/").status_code == 200
    assert AuditEvent.objects.filter(action="staff.second_factor_enrolled", actor=officer, details__method="totp").exists()
    assert AuditEvent.objects.filter(action="staff.second_factor_failed", actor=officer).count() == 1


def test_a_used_code_is_not_accepted_twice_and_wrong_codes_lock_the_account(settings):
    settings.REPORTIN_LOGIN_LOCK_USERNAME = 4
    officer = factories.staff("code-officer")
    first, second = Client(), Client()
    factories.staff_login(first, officer)
    device = TotpDevice.objects.get(user=officer)
    secret = services.totp_secret(device)
    second.force_login(officer)
    session = second.session
    replay_at = datetime.fromtimestamp(device.last_step * 30, UTC)
    with pytest.raises(services.SecondFactorError, match="already used"):
        services.totp_verify(user=officer, code=pyotp.TOTP(secret).at(replay_at), session=session, now=replay_at)
    for _ in range(3):
        with pytest.raises(services.SecondFactorError):
            services.totp_verify(user=officer, code="12345x", session=session)
    assert services.account_locked(officer)
    good_at = replay_at + timedelta(seconds=60)
    with pytest.raises(services.SecondFactorError, match="locked"):
        services.totp_verify(user=officer, code=pyotp.TOTP(secret).at(good_at), session=session, now=good_at)


def test_an_auditor_who_cannot_open_biometric_images_needs_no_second_factor(client):
    factories.staff("desk-auditor", role=roles.AUDITOR, region_code=None)
    sign_in(client, "desk-auditor", PASSWORD)
    assert client.get("/admin/").status_code == 200


def test_a_second_factor_of_one_person_does_not_carry_over_to_another_in_the_same_session():
    alice, bob = factories.staff("alice-officer"), factories.staff("bob-officer")
    http = Client()
    factories.staff_login(http, alice)
    session = http.session
    assert services.second_factor_verified(session, alice) and not services.second_factor_verified(session, bob)


def test_an_idle_session_is_signed_out_after_fifteen_minutes(client):
    officer = factories.staff("idle-officer")
    factories.staff_login(client, officer)
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[SESSION_LAST_SEEN] = session[SESSION_LAST_SEEN] - (15 * 60 + 5)
    session.save()
    response = client.get("/admin/enforcement/client/")
    assert response.status_code == 302 and response.url.startswith(LOGIN)
    assert not signed_in(client)
    assert AuditEvent.objects.filter(action="staff.session_expired", actor=officer).exists()


def test_a_session_used_within_fifteen_minutes_stays_signed_in(client):
    factories.staff_login(client, factories.staff("busy-officer"))
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[SESSION_LAST_SEEN] = session[SESSION_LAST_SEEN] - 14 * 60
    session.save()
    assert client.get("/admin/").status_code == 200


def test_the_session_cookie_ends_with_the_browser(client):
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE and settings.REPORTIN_STAFF_IDLE_SECONDS == 15 * 60
    factories.staff("cookie-auditor", role=roles.AUDITOR, region_code=None)
    response = sign_in(client, "cookie-auditor", PASSWORD)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie.value and not cookie["expires"] and not cookie["max-age"]


def test_webauthn_registration_and_sign_in_run_the_real_verification():
    from tests.webauthn_soft import SoftKey

    officer = factories.staff("soft-key-officer")
    key, session = SoftKey(), {}
    options = services.webauthn_registration_options(user=officer, session=session, rp_id="testserver")
    stored = services.webauthn_register(user=officer, session=session, credential=key.register(options), rp_id="testserver", origin="http://testserver")
    assert services.second_factor_verified(session, officer) and services.second_factor_enrolled(officer)

    fresh = {}
    options = services.webauthn_authentication_options(user=officer, session=fresh, rp_id="testserver")
    services.webauthn_authenticate(user=officer, session=fresh, credential=key.authenticate(options), rp_id="testserver", origin="http://testserver")
    assert services.second_factor_verified(fresh, officer)
    stored.refresh_from_db()
    assert stored.sign_count == 1

    # A phishing site's origin, a replayed (cloned-key) counter, an answer without a challenge: refused.
    for origin, count in (("http://evil.example", None), ("http://testserver", 1)):
        other = {}
        options = services.webauthn_authentication_options(user=officer, session=other, rp_id="testserver")
        with pytest.raises(services.SecondFactorError):
            services.webauthn_authenticate(user=officer, session=other, credential=key.authenticate(options, sign_count=count), rp_id="testserver", origin=origin)
        assert not services.second_factor_verified(other, officer)
    with pytest.raises(services.SecondFactorError, match="expired"):
        services.webauthn_authenticate(user=officer, session={}, credential=key.authenticate(options), rp_id="testserver", origin="http://testserver")
    assert AuditEvent.objects.filter(action="staff.second_factor_failed", actor=officer).count() == 2


def test_a_second_key_cannot_be_added_by_a_session_that_has_not_passed_the_first():
    from tests.webauthn_soft import SoftKey

    officer = factories.staff("two-key-officer")
    session = {}
    options = services.webauthn_registration_options(user=officer, session=session, rp_id="testserver")
    services.webauthn_register(user=officer, session=session, credential=SoftKey().register(options), rp_id="testserver", origin="http://testserver")
    with pytest.raises(services.SecondFactorError, match="Confirm your current second factor"):
        services.webauthn_registration_options(user=officer, session={}, rp_id="testserver")
    with pytest.raises(services.SecondFactorError, match="Confirm your current second factor"):
        services.totp_enrol_begin(user=officer, session={})
