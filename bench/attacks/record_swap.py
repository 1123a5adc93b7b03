"""Attack (issue 14.7): move sealed blobs from one record to another, as someone who can write
to the database but holds no key, and see whether the application uses them.

    .venv/bin/python bench/attacks/record_swap.py

Runs on a throwaway SQLite database and media folder (production settings, random keys), made
and migrated here; nothing else is touched. Through the services: client A enrolled with one
face (the astronaut), client B with another (an LFW face), both with consent and a device.
Then, with raw SQL:

1. encoding swap: B's reference photo gets A's encoding; B's device sends a selfie of A;
   the attack works if scoring calls it a match (someone else reports for B);
2. selfie swap: one of B's check-ins is pointed at another check-in's selfie; the attack works
   if the swapped selfie opens as the other check-in's picture.

Prints ONE JSON line; exits 1 while any attack works (0 when every one is refused).
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))


def _setup(folder: Path) -> None:
    import base64

    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(40)).decode(),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"sqlite:///{folder / 'attack.sqlite3'}",
        "REPORTIN_DATA_DIR": str(folder),
        "MEDIA_ROOT": str(folder / "media"),
        "REPORTIN_ENCRYPTION_KEYS": "attack:" + base64.urlsafe_b64encode(os.urandom(32)).decode(),
    })
    for name in ("REPORTIN_S3_BUCKET", "CELERY_BROKER_URL", "CACHE_URL"):
        os.environ.pop(name, None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _swap(table: str, column: str, first: int, second: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {table} WHERE id IN (%s, %s)", [first, second])
        values = dict(cursor.fetchall())
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [values[second], first])
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [values[first], second])


def _person(face, key_area):
    from tests import factories

    client = factories.client()
    factories.consent_both(client)
    factories.condition(client, starts_on=factories.LATER, area_latitude=key_area[0], area_longitude=key_area[1], area_radius_km=50)
    photo = factories.reference_photo(client, face)
    if photo.status != "ready":
        raise SystemExit(f"enrolment failed: {photo.rejection_message}")
    _, device = factories.device(client)
    return client, device, photo


def run() -> dict:
    from django.utils import timezone

    from enforcement import crypto
    from reportin import scoring, services
    from reportin.models import CheckIn
    from tests import images

    where = (43.6532, -79.3832)
    now = timezone.now()

    def submit(device, picture, key):
        checkin, _ = services.checkin_submit(
            device=device, selfie=images.jpeg(picture), latitude=where[0], longitude=where[1], accuracy_m=15,
            captured_at=now, idempotency_key=key, now=now,
        )
        return checkin

    _, _, photo_a = _person(images.astronaut(), where)
    _, device_b, photo_b = _person(images.lfw_face(2), where)

    # 1. B's reference encoding replaced by A's; A reports on B's phone.
    _swap("enforcement_referencephoto", "encoding", photo_a.pk, photo_b.pk)
    stand_in = submit(device_b, images.astronaut_elsewhere(), "stand-in")
    match = scoring.checkin_score(checkin_id=stand_in.pk, now=now)
    encoding = {"decision": match.decision, "worked": match.decision == "match", "detail": match.detail.get("reference_error", "")[:160]}

    # 2. One check-in's selfie pointed at another's.
    genuine = submit(device_b, images.astronaut_elsewhere(position=(200, 60)), "genuine")
    other = submit(device_b, images.lfw_face(3), "other")
    with genuine.selfie.open("rb") as handle:
        genuine_bytes = handle.read()
    _swap("reportin_checkin", "selfie", genuine.pk, other.pk)
    try:
        with CheckIn.objects.get(pk=other.pk).selfie.open("rb") as handle:
            opened = handle.read()
        selfie = {"worked": opened == genuine_bytes, "error": ""}
    except crypto.DecryptionError as exc:
        selfie = {"worked": False, "error": str(exc)[:160]}
    return {"encoding_swap": encoding, "selfie_swap": selfie}


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="record-swap-") as folder:
        _setup(Path(folder))
        import logging

        logging.disable(logging.CRITICAL)  # the refusals are logged at ERROR; the JSON line says it
        outcome = run()
    works = [name for name, result in outcome.items() if result["worked"]]
    print(json.dumps({"attack": "record_swap", **outcome, "attacks_that_work": works, "seconds": round(time.perf_counter() - started, 1)}))
    return 1 if works else 0


if __name__ == "__main__":
    sys.exit(main())
