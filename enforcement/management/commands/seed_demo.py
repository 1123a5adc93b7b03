"""Demo data for trying the system: staff users, clients, conditions (with their reporting
windows), reference photos and fresh activation codes. Safe to run again: it completes what
is missing and issues new activation codes (earlier unused ones are revoked)."""

import base64
import hashlib
import hmac
import io
import json
from datetime import date, time

import numpy as np
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image

from enforcement import roles, services
from enforcement.models import Client, Region, Schedule, User

DEMO_USERS = [
    # username, role (group), region code (None: all regions)
    ("officer", roles.OFFICER, "gta"),
    ("supervisor", roles.SUPERVISOR, None),
    ("auditor", roles.AUDITOR, None),
    ("admin", "superuser", None),
]

TORONTO = (43.6532, -79.3832)

# uci, given name, family name, date of birth, citizenship, language, region, zone override,
# condition, reference photo
DEMO_CLIENTS = [
    ("11000001", "Alex", "Tremblay", date(1988, 4, 12), "HT", "en", "gta", "",
     {"schedule": Schedule.EVERY_N_DAYS, "interval_days": 1, "window_start": time(0, 0), "window_minutes": 1440,
      "area_latitude": TORONTO[0], "area_longitude": TORONTO[1], "area_radius_km": 50.0}, "astronaut"),
    ("11000002", "Sam", "Nguyen", date(1979, 11, 3), "VN", "en", "pacific", "",
     {"schedule": Schedule.WEEKLY, "weekdays": 0b0001001, "window_start": time(9, 0), "window_minutes": 480}, "lfw:0"),
    ("11000003", "Camille", "Okafor", date(1992, 7, 21), "NG", "fr", "quebec", "",
     {"schedule": Schedule.MONTHLY, "day_of_month": 31, "window_start": time(8, 0), "window_minutes": 600}, "lfw:3"),
    ("11000004", "Jordan", "Haddad", date(1985, 2, 28), "LB", "en", "atlantic", "America/St_Johns",
     {"schedule": Schedule.WEEKLY, "weekdays": 0b0010101, "window_start": time(2, 30), "window_minutes": 240}, "lfw:7"),
    ("11000005", "Taylor", "Singh", date(1990, 9, 9), "IN", "en", "prairie", "America/Regina",
     {"schedule": Schedule.EVERY_N_DAYS, "interval_days": 3, "window_start": time(12, 0), "window_minutes": 360}, "lfw:8"),
]


def demo_password(username: str) -> str:
    """Stable for a given SECRET_KEY, so re-running the seed keeps working credentials, and
    different on every deployment with its own secret."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"seed_demo:{username}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:16].lower()


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


class Command(BaseCommand):
    help = "Create or complete demo data (users, clients, conditions, reference photos) and issue activation codes."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")

    def handle(self, *args, **options):
        with transaction.atomic():
            users = self._users()
            clients = self._clients(users["officer"])
        # New conditions got their windows from condition_set; this tops up older ones, so a
        # demo seeded days ago has current windows again.
        services.windows_materialise()
        if options["json"]:
            self.stdout.write(json.dumps({"users": users_out(users), "clients": clients}))
            return
        self.stdout.write(self.style.SUCCESS("Demo data ready.") + "\n\nStaff users (admin at /admin/):")
        for item in users_out(users):
            self.stdout.write(f"  {item['role']:<11} {item['username']:<11} password: {item['password']}")
        self.stdout.write("\nClients (activate the app with code + UCI + date of birth):")
        for item in clients:
            self.stdout.write(
                f"  {item['uci']}  born {item['date_of_birth']}  {item['region']:<17} code: {item['activation_code']}"
            )

    def _users(self) -> dict[str, User]:
        users = {}
        for username, role, region_code in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username, defaults={"first_name": username.title()})
            user.is_staff = True
            user.is_superuser = role == "superuser"
            user.region = Region.objects.get(code=region_code) if region_code else None
            user.set_password(demo_password(username))
            user.save()
            if role != "superuser":
                user.groups.set([Group.objects.get(name=role)])
            user.demo_role = role
            users[username] = user
        return users

    def _clients(self, officer: User) -> list[dict]:
        out = []
        for uci, given, family, born, country, language, region_code, zone, condition, photo in DEMO_CLIENTS:
            region = Region.objects.get(code=region_code)
            client = Client.objects.filter(uci=uci).first()
            if client is None:
                client = services.client_create(
                    uci=uci, given_name=given, family_name=family, date_of_birth=born, country_of_citizenship=country,
                    region=region, preferred_language=language, time_zone=zone, created_by=officer,
                    # A case officer works the client's region (services.case_officer_choices).
                    case_officer=officer if officer.region_id == region.pk else None,
                )
            if not client.conditions.filter(active=True).exists():
                services.condition_set(client=client, set_by=officer, starts_on=date.today(), **condition)
            if not client.reference_photos.exists():
                services.reference_photo_add(client=client, data=demo_photo(photo), uploaded_by=officer)
            code, _ = services.activation_code_issue(client=client, issued_by=officer)
            out.append({"uci": uci, "date_of_birth": born.isoformat(), "activation_code": code, "region": region.code})
        return out


def users_out(users: dict[str, User]) -> list[dict]:
    return [{"username": u.username, "password": demo_password(u.username), "role": u.demo_role} for u in users.values()]
