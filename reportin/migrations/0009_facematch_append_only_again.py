from django.db import migrations

from enforcement.append_only import AppendOnly


class Migration(migrations.Migration):
    """On SQLite, adding FaceMatch.liveness (0008) rebuilt the table and dropped its append-only
    triggers; they are made again (idempotent: PostgreSQL kept its trigger)."""

    dependencies = [
        ("reportin", "0008_liveness_challenge_and_frames"),
    ]

    operations = [
        AppendOnly("FaceMatch"),
    ]
