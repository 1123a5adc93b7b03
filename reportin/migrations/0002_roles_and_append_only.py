from django.db import migrations

from enforcement.append_only import AppendOnly
from enforcement.roles import REPORTIN_PERMISSIONS, grant


def forwards(apps, schema_editor):
    grant(apps, "reportin", REPORTIN_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("reportin", "0001_initial"),
        ("enforcement", "0002_reference_data"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
        AppendOnly("FaceMatch"),
    ]
