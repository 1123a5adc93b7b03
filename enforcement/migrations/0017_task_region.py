"""Investigation tasks carry their client's region, so an officer's queue is one index walk."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Q, Subquery


def fill_region(apps, schema_editor):
    Task = apps.get_model("enforcement", "InvestigationTask")
    Client = apps.get_model("enforcement", "Client")
    Task.objects.filter(region__isnull=True).update(
        region=Subquery(Client.objects.filter(pk=OuterRef("client_id")).values("region_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [("enforcement", "0016_sweep_mark")]

    operations = [
        migrations.AddField(
            model_name="investigationtask",
            name="region",
            field=models.ForeignKey(
                editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+",
                to="enforcement.region",
            ),
        ),
        migrations.RunPython(fill_region, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="investigationtask",
            name="region",
            field=models.ForeignKey(
                editable=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="enforcement.region"
            ),
        ),
        migrations.AddIndex(
            model_name="investigationtask",
            index=models.Index(
                condition=Q(("status", "resolved"), _negated=True),
                fields=["region", "-priority", "created_at", "id"],
                name="task_region_queue_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="investigationtask",
            index=models.Index(
                condition=Q(("status", "resolved"), _negated=True),
                fields=["region", "reason"],
                name="task_region_reason_idx",
            ),
        ),
    ]
