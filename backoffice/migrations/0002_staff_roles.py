"""Supervisors see sign-in throttles and clear locks; auditors see them; the second-factor
lists are for supervisors to see (a superuser deletes a lost one)."""

from django.db import migrations

from enforcement.roles import AUDITOR, SUPERVISOR, grant

PERMISSIONS = {
    SUPERVISOR: {
        "loginthrottle": ["view", "clear_login_lock"],
        "webauthncredential": ["view"],
        "totpdevice": ["view"],
    },
    AUDITOR: {"loginthrottle": ["view"], "webauthncredential": ["view"], "totpdevice": ["view"]},
}


def forwards(apps, schema_editor):
    grant(apps, "backoffice", PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0001_staff_initial"), ("enforcement", "0006_condition_schedule_not_null")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
