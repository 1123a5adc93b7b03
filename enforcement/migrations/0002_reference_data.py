"""Regions, staff roles and the first consent texts; consent, audit and access records
become append-only in the database."""

import hashlib
from datetime import UTC, datetime

from django.db import migrations

from enforcement.append_only import AppendOnly
from enforcement.roles import ENFORCEMENT_PERMISSIONS, grant

REGIONS = [
    # code, English name, French name, IANA zone of the regional headquarters
    ("atlantic", "Atlantic", "Atlantique", "America/Halifax"),
    ("quebec", "Quebec", "Québec", "America/Toronto"),
    ("northern-ontario", "Northern Ontario", "Nord de l'Ontario", "America/Toronto"),
    ("gta", "Greater Toronto Area", "Région du grand Toronto", "America/Toronto"),
    ("southern-ontario", "Southern Ontario", "Sud de l'Ontario", "America/Toronto"),
    ("prairie", "Prairie", "Prairies", "America/Edmonton"),
    ("pacific", "Pacific", "Pacifique", "America/Vancouver"),
]

VERSION = "2026-01"
TEXTS = {
    ("app_use", "en"): (
        "Using the ReportIn app to report",
        "You may report through this app instead of in person. Each time you report, the app "
        "sends a photo of your face and your location at that moment. Your location is not "
        "followed between reports. An officer reviews every report. Using the app is your "
        "choice: if you refuse, or withdraw later, you will report in person instead, and "
        "that choice will not be held against you.",
    ),
    ("app_use", "fr"): (
        "Utiliser l'application ReportIn pour vous présenter",
        "Vous pouvez vous présenter au moyen de cette application plutôt qu'en personne. À chaque "
        "présentation, l'application envoie une photo de votre visage et votre position à ce "
        "moment-là. Votre position n'est pas suivie entre les présentations. Un agent examine "
        "chaque présentation. L'utilisation de l'application est votre choix : si vous refusez, "
        "ou si vous retirez votre consentement plus tard, vous vous présenterez en personne, et "
        "ce choix ne vous sera pas reproché.",
    ),
    ("biometric", "en"): (
        "Use of your likeness (face comparison)",
        "The photo you take when you report is compared by a computer with the reference photos "
        "taken when you enrolled, to confirm that it is you. When the comparison is unclear, an "
        "officer looks at the photos; the computer never decides anything against you on its "
        "own. Photos are kept encrypted and deleted when they are no longer needed. You may "
        "refuse or withdraw this consent; you will then report in person, without penalty.",
    ),
    ("biometric", "fr"): (
        "Utilisation de votre image (comparaison du visage)",
        "La photo que vous prenez lorsque vous vous présentez est comparée par ordinateur aux "
        "photos de référence prises lors de votre inscription, pour confirmer qu'il s'agit bien "
        "de vous. Lorsque la comparaison n'est pas claire, un agent examine les photos; "
        "l'ordinateur ne décide jamais rien contre vous de lui-même. Les photos sont conservées "
        "chiffrées et supprimées lorsqu'elles ne sont plus nécessaires. Vous pouvez refuser ou "
        "retirer ce consentement; vous vous présenterez alors en personne, sans pénalité.",
    ),
}


def text_sha256(title: str, body: str) -> str:
    return hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest()


def forwards(apps, schema_editor):
    Region = apps.get_model("enforcement", "Region")
    for code, name, name_fr, zone in REGIONS:
        Region.objects.update_or_create(code=code, defaults={"name": name, "name_fr": name_fr, "time_zone": zone})

    ConsentText = apps.get_model("enforcement", "ConsentText")
    published = datetime(2026, 1, 1, tzinfo=UTC)
    for (kind, language), (title, body) in TEXTS.items():
        ConsentText.objects.get_or_create(
            kind=kind, language=language, version=VERSION,
            defaults={"title": title, "body": body, "sha256": text_sha256(title, body), "published_at": published},
        )

    grant(apps, "enforcement", ENFORCEMENT_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("enforcement", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
        AppendOnly("ConsentRecord"),
        AppendOnly("AuditEvent"),
        AppendOnly("AccessRecord"),
    ]
