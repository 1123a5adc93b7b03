"""A few factories. Data is created through the real services wherever one exists."""

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyotp
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone

from backoffice import services as backoffice_services
from backoffice.models import TotpDevice
from enforcement import roles, services
from enforcement.models import Region, Schedule, User
from reportin import services as reportin_services
from tests import images

_uci = itertools.count(20_000_001)


def region(code: str = "gta") -> Region:
    return Region.objects.get(code=code)


def staff(username: str, role: str = roles.OFFICER, region_code: str | None = "gta") -> User:
    user = User.objects.create_user(username=username, password="test-password-123", is_staff=True)
    user.region = region(region_code) if region_code else None
    user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def staff_login(http, user: User) -> None:
    """Sign `user` in on the test client `http`, and where the account needs a second factor,
    pass it through the real service: an authenticator app is enrolled (once) and a current
    code typed, as a person would. The check itself stays on."""
    http.force_login(user)
    if not backoffice_services.second_factor_required(user):
        return
    session = http.session
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
    if device is None:
        secret, last_step = backoffice_services.totp_enrol_begin(user=user, session=session), 0
    else:
        secret, last_step = backoffice_services.totp_secret(device), device.last_step
    # A code is good once: a second sign-in of the same person in a test uses the next step.
    now = max(timezone.now(), datetime.fromtimestamp((last_step + 1) * backoffice_services.TOTP_STEP_SECONDS, UTC))
    backoffice_services.totp_verify(user=user, code=pyotp.TOTP(secret).at(now), session=session, now=now)
    session.save()
    # The service gave the session a new id once the factor was through.
    http.cookies[settings.SESSION_COOKIE_NAME] = session.session_key


def client(*, region_code: str = "gta", officer: User | None = None, **overrides):
    fields = {
        "uci": str(next(_uci)),
        "given_name": "Test",
        "family_name": "Person",
        "date_of_birth": date(1990, 1, 2),
        "country_of_citizenship": "HT",
        "region": region(region_code),
        "created_by": officer,
    }
    fields.update(overrides)
    return services.client_create(**fields)


# A start date for conditions whose windows a test makes itself (see window()): the
# scheduler's windows begin only a year from now, beyond its horizon.
LATER = date.today() + timedelta(days=365)


def condition(client, *, officer=None, **overrides):
    fields = {
        "schedule": Schedule.EVERY_N_DAYS,
        "interval_days": 1,
        "window_start": time(0, 0),
        "window_minutes": 1440,
        "starts_on": date(2026, 1, 1),
    }
    fields.update(overrides)
    return services.condition_set(client=client, set_by=officer, **fields)


def reference_photo(client, image=None, *, officer=None):
    return services.reference_photo_add(client=client, data=images.jpeg(image or images.astronaut()), uploaded_by=officer)


def consent_both(client, *, language: str = "en"):
    from enforcement.selectors import consent_current_versions

    versions = consent_current_versions()
    for kind in ("app_use", "biometric"):
        services.consent_record(
            client=client, kind=kind, decision="granted", text_version=versions[kind], language=language, channel="app"
        )


def device(client, *, name: str = "Test phone", platform: str = "android"):
    """An activated device through the real activation flow. Returns (token, device)."""
    code, _ = services.activation_code_issue(client=client, issued_by=None)
    return reportin_services.device_activate(
        activation_code=code, uci=client.uci, date_of_birth=client.date_of_birth, device_name=name, platform=platform,
        client_address="192.0.2.1",
    )


def window(client, *, opens_at, minutes: int = 60, grace_minutes: int | None = None, status: str = "open"):
    """A reporting window of the client's active condition, made directly (the scheduler that
    materialises windows is tested on its own). Give the condition a later start
    (`starts_on=factories.LATER`) so that the scheduler's own windows stay out of the way."""
    from enforcement.models import ReportingWindow

    condition = client.conditions.get(active=True)
    grace = condition.grace_minutes if grace_minutes is None else grace_minutes
    closes_at = opens_at + timedelta(minutes=minutes)
    return ReportingWindow.objects.create(
        condition=condition, client=client, opens_at=opens_at, closes_at=closes_at,
        deadline_at=closes_at + timedelta(minutes=grace), status=status,
    )


def toronto(*args) -> datetime:
    """A wall-clock time in Toronto (the GTA region's zone) as an aware UTC datetime."""
    return datetime(*args, tzinfo=ZoneInfo("America/Toronto")).astimezone(UTC)


# Monday 2 March 2026, 07:00 in Toronto: two hours before that day's window opens.
MONDAY_MORNING = toronto(2026, 3, 2, 7, 0)


def office_hours(client, *, now=MONDAY_MORNING, **overrides):
    """Daily 09:00-17:00 local time from 1 March 2026, one hour of grace (deadline 18:00)."""
    fields = {"window_start": time(9, 0), "window_minutes": 480, "grace_minutes": 60, "starts_on": date(2026, 3, 1), "now": now}
    fields.update(overrides)
    return condition(client, **fields)
