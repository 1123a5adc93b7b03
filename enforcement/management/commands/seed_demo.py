"""Demo data for trying the system: staff users, clients, conditions (with their reporting
windows), reference photos and activation codes.

Seeded once: a later run completes what is missing, tops up the windows and prints the same
logins and codes again (kept in DATA_DIR/demo-logins.json, mode 0600), so that activation codes
already handed out and admin sessions stay valid. `--reseed` sets new random passwords and
issues new codes (earlier unused ones are revoked)."""

import io
import json
import os
import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from PIL import Image

from enforcement import roles, schedule, services
from enforcement.models import ActivationCode, Client, Region, Schedule, User

DEMO_USERS = [
    # username, role (group), region code (None: all regions)
    ("officer", roles.OFFICER, "gta"),
    ("supervisor", roles.SUPERVISOR, None),
    ("auditor", roles.AUDITOR, None),
    ("admin", "superuser", None),
]

TORONTO = (43.6532, -79.3832)

# uci, given name, family name, date of birth, citizenship, language, region, zone override,
# condition, reference photo. Each condition starts on the client's own local date when seeded
# (demo_condition), so the demo works whatever the hour and day it is seeded at.
DEMO_CLIENTS = [
    # Daily, all day: there is always a window to check in to (the web app's demo client).
    ("11000001", "Alex", "Tremblay", date(1988, 4, 12), "HT", "en", "gta", "",
     {"schedule": Schedule.EVERY_N_DAYS, "interval_days": 1, "window_start": time(0, 0), "window_minutes": 1440,
      "area_latitude": TORONTO[0], "area_longitude": TORONTO[1], "area_radius_km": 50.0}, "astronaut"),
    ("11000002", "Sam", "Nguyen", date(1979, 11, 3), "VN", "en", "pacific", "",
     {"schedule": Schedule.WEEKLY, "weekdays": 0b0001001, "window_start": time(9, 0), "window_minutes": 480}, "lfw:0"),
    # Monthly, on the day after the seeding's local date (demo_condition): a fixed day of the
    # month would leave this client without any window inside the horizon for half the month.
    ("11000003", "Camille", "Okafor", date(1992, 7, 21), "NG", "fr", "quebec", "",
     {"schedule": Schedule.MONTHLY, "window_start": time(8, 0), "window_minutes": 600}, "lfw:3"),
    ("11000004", "Jordan", "Haddad", date(1985, 2, 28), "LB", "en", "atlantic", "America/St_Johns",
     {"schedule": Schedule.WEEKLY, "weekdays": 0b0010101, "window_start": time(2, 30), "window_minutes": 240}, "lfw:7"),
    ("11000005", "Taylor", "Singh", date(1990, 9, 9), "IN", "en", "prairie", "America/Regina",
     {"schedule": Schedule.EVERY_N_DAYS, "interval_days": 3, "window_start": time(12, 0), "window_minutes": 360}, "lfw:8"),
]

LOGINS_FILE = "demo-logins.json"


def demo_password() -> str:
    """Random, printed once and kept only in the 0600 logins file: a demo password that could be
    computed from anything public would open every demo's admin."""
    return secrets.token_urlsafe(12)


def demo_photo(source: str) -> bytes:
    """A reference photo from images that ship inside scikit-image."""
    from skimage import data

    if source == "astronaut":
        # Head and shoulders: the full picture also holds a mission patch that a face detector
        # can mistake for a second face.
        image = Image.fromarray(data.astronaut()[0:330, 60:420])
    else:
        index = int(source.split(":")[1])
        face = (data.lfw_subset()[index] * 255).astype(np.uint8)
        # The LFW crops are 25x25 and tight around the face: upscale and set them on a plain
        # background so that they look like a (soft) portrait photo.
        face_img = Image.fromarray(face).resize((300, 300), Image.Resampling.LANCZOS).convert("RGB")
        image = Image.new("RGB", (480, 600), (200, 200, 200))
        image.paste(face_img, (90, 120))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def demo_client(spec: tuple, *, officer: User) -> Client:
    """The demo client of this DEMO_CLIENTS row, created if missing."""
    uci, given, family, born, country, language, region_code, zone, _condition, _photo = spec
    client = Client.objects.filter(uci=uci).first()
    if client is None:
        region = Region.objects.get(code=region_code)
        client = services.client_create(
            uci=uci, given_name=given, family_name=family, date_of_birth=born, country_of_citizenship=country,
            region=region, preferred_language=language, time_zone=zone, created_by=officer,
            # A case officer works the client's region (services.case_officer_choices).
            case_officer=officer if officer.region_id == region.pk else None,
        )
    return client


def demo_condition(spec: tuple, *, client: Client, officer: User, now: datetime):
    """Give the client its demo condition, anchored to its local date at `now`: a condition
    starting on the server's UTC date would have no window open from 19:00 to midnight in
    Toronto (the UTC date is already tomorrow there)."""
    fields = dict(spec[8])
    local_today = now.astimezone(schedule.zone(client.local_time_zone)).date()
    if fields["schedule"] == Schedule.MONTHLY:
        fields["day_of_month"] = (local_today + timedelta(days=1)).day
    return services.condition_set(client=client, set_by=officer, now=now, starts_on=local_today, **fields)


def code_state(code: str | None, *, now: datetime) -> str:
    if not code:
        return "unknown"
    record = ActivationCode.objects.filter(code_hash=services.hash_secret(services.normalise_activation_code(code))).first()
    if record is None:
        return "unknown"
    if record.used_at:
        return "used"
    if record.revoked_at:
        return "revoked"
    return "expired" if record.expires_at <= now else "ready"


def read_logins(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"users": {}, "codes": {}}
    if not isinstance(data, dict):
        return {"users": {}, "codes": {}}
    return {"users": dict(data.get("users") or {}), "codes": dict(data.get("codes") or {})}


def write_logins(path: Path, logins: dict) -> None:
    """Atomically, readable by the owner only (it holds the demo's passwords)."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(logins, handle, indent=1)
    os.chmod(temporary, 0o600)  # a leftover .tmp from a crash keeps its old mode otherwise
    os.replace(temporary, path)


class Command(BaseCommand):
    help = (
        "Create or complete the demo data (users, clients, conditions, reference photos) and print its logins and "
        "activation codes. Run again, it keeps them; --reseed sets new passwords and codes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
        parser.add_argument("--reseed", action="store_true", help="New random demo passwords and new activation codes.")
        parser.add_argument("--now", help="Seed as if it were this ISO 8601 instant, with its UTC offset (tests, demos).")

    def handle(self, *args, **options):
        now = timezone.now()
        if options["now"]:
            now = parse_datetime(options["now"])
            if now is None or timezone.is_naive(now):
                raise CommandError("--now must be an ISO 8601 date and time with its UTC offset, e.g. 2026-12-07T23:30:00-05:00")
        path = Path(settings.DATA_DIR) / LOGINS_FILE
        logins = read_logins(path)
        reseed = options["reseed"]
        with transaction.atomic():
            users, fresh_users = self._users(logins, reseed=reseed)
            clients, fresh_codes = self._clients(users["officer"], logins, reseed=reseed, now=now)
        if fresh_users or fresh_codes:
            write_logins(path, logins)
        # New conditions got their windows from condition_set; this tops up older ones, so a
        # demo seeded days ago has current windows again.
        services.windows_materialise(now=now)
        user_rows = [
            {"username": user.username, "password": logins["users"][user.username], "role": user.demo_role}
            for user in users.values()
        ]
        client_rows = [
            {
                "uci": client.uci, "date_of_birth": client.date_of_birth.isoformat(), "region": client.region.code,
                "activation_code": logins["codes"].get(client.uci), "code_state": code_state(logins["codes"].get(client.uci), now=now),
            }
            for client in clients
        ]
        if options["json"]:
            self.stdout.write(json.dumps({"users": user_rows, "clients": client_rows}))
            return
        kept = not (fresh_users or fresh_codes)
        self.stdout.write(
            self.style.SUCCESS("Demo data ready.")
            + (" (Seeded earlier: the same logins and codes. `python3 dev.py run --reseed` issues new ones.)" if kept else "")
            + "\n\nStaff users (admin at /admin/):"
        )
        for item in user_rows:
            self.stdout.write(f"  {item['role']:<11} {item['username']:<11} password: {item['password']}")
        self.stdout.write("\nClients (activate the web app at /app/ with code + UCI + date of birth):")
        for item in client_rows:
            state = "" if item["code_state"] == "ready" else f" ({item['code_state']}: `python3 dev.py run --reseed` issues a new one)"
            self.stdout.write(
                f"  {item['uci']}  born {item['date_of_birth']}  {item['region']:<9} code: {item['activation_code'] or '-'}{state}"
            )

    def _users(self, logins: dict, *, reseed: bool) -> tuple[dict[str, User], bool]:
        users, fresh = {}, False
        for username, role, region_code in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"first_name": username.title()})
            user.is_staff = True
            user.is_superuser = role == "superuser"
            user.region = Region.objects.get(code=region_code) if region_code else None
            # A password not on file is unknown to us (or was computed by an older version from
            # the public development secret): replace it.
            if created or reseed or username not in logins["users"]:
                logins["users"][username] = demo_password()
                user.set_password(logins["users"][username])
                fresh = True
            user.save()
            if role != "superuser":
                user.groups.set([Group.objects.get(name=role)])
            user.demo_role = role
            users[username] = user
        return users, fresh

    def _clients(self, officer: User, logins: dict, *, reseed: bool, now: datetime) -> tuple[list[Client], bool]:
        clients, fresh = [], False
        for spec in DEMO_CLIENTS:
            client = demo_client(spec, officer=officer)
            if not client.conditions.filter(active=True).exists():
                demo_condition(spec, client=client, officer=officer, now=now)
            if not client.reference_photos.exists():
                services.reference_photo_add(client=client, data=demo_photo(spec[9]), uploaded_by=officer)
            if reseed or code_state(logins["codes"].get(client.uci), now=now) == "unknown":
                code, _ = services.activation_code_issue(client=client, issued_by=officer, now=now)
                logins["codes"][client.uci] = code
                fresh = True
            clients.append(client)
        return clients, fresh
