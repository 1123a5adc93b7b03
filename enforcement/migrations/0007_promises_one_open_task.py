# One open task per client and reason. Existing duplicates are merged first: the oldest open
# task of each (client, reason) stays, takes the highest priority of the group, and gets one
# "further event" note per duplicate (with the duplicate's source, so that its decision settles
# that check-in or window too); each duplicate is resolved as "merged", pointing at it.

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count
from django.utils import timezone

UNRESOLVED = ["open", "in_progress"]


def merge_duplicate_open_tasks(apps, schema_editor):
    Task = apps.get_model("enforcement", "InvestigationTask")
    Note = apps.get_model("enforcement", "TaskNote")
    now = timezone.now()
    groups = (
        Task.objects.filter(status__in=UNRESOLVED).values("client_id", "reason").annotate(n=Count("id")).filter(n__gt=1).order_by()
    )
    for group in groups:
        tasks = list(Task.objects.filter(status__in=UNRESOLVED, **{k: group[k] for k in ("client_id", "reason")}).order_by("created_at", "id"))
        kept, duplicates = tasks[0], tasks[1:]
        for duplicate in duplicates:
            Note.objects.create(
                task=kept, kind="event", checkin_id=duplicate.checkin_id, window_id=duplicate.window_id,
                consent_record_id=duplicate.consent_record_id, created_at=duplicate.created_at,
                text=f"Task {duplicate.pk} of the same reason, opened {duplicate.created_at:%Y-%m-%d %H:%M} UTC, was merged into this one.",
                data={"merged_task": duplicate.pk, "evidence": duplicate.evidence},
            )
            Task.objects.filter(pk=duplicate.pk).update(
                status="resolved", resolution="merged", resolved_at=now, updated_at=now,
                resolution_note=f"Merged into task {kept.pk}, the open task of the same client and reason.",
            )
        Task.objects.filter(pk=kept.pk).update(priority=max(task.priority for task in tasks), updated_at=now)


class Migration(migrations.Migration):

    dependencies = [
        ('enforcement', '0006_condition_schedule_not_null'),
    ]

    operations = [
        migrations.AddField(
            model_name='tasknote',
            name='checkin_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='tasknote',
            name='consent_record',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='enforcement.consentrecord'),
        ),
        migrations.AddField(
            model_name='tasknote',
            name='window',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='enforcement.reportingwindow'),
        ),
        migrations.AlterField(
            model_name='investigationtask',
            name='resolution',
            field=models.CharField(blank=True, choices=[('identity_confirmed', 'Identity confirmed'), ('identity_not_confirmed', 'Identity not confirmed'), ('false_alarm', 'False alarm'), ('contact_made', 'Contact made'), ('excused', 'Excused'), ('escalated', 'Escalated'), ('no_action', 'No action needed'), ('merged', 'Merged into another open task')], max_length=32),
        ),
        migrations.AlterField(
            model_name='tasknote',
            name='kind',
            field=models.CharField(choices=[('note', 'Note'), ('late_checkin', 'Late check-in'), ('system', 'System'), ('event', 'Further event')], default='note', max_length=16),
        ),
        migrations.AlterField(
            model_name='referencephoto',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('ready', 'Ready'), ('rejected', 'Rejected'), ('purged', 'Deleted')], default='pending', max_length=16),
        ),
        migrations.AddIndex(
            model_name='tasknote',
            index=models.Index(condition=models.Q(('checkin_id__isnull', False)), fields=['checkin_id'], name='tasknote_checkin_idx'),
        ),
        migrations.AddConstraint(
            model_name='tasknote',
            constraint=models.UniqueConstraint(condition=models.Q(('checkin_id__isnull', False), ('kind', 'event')), fields=('task', 'checkin_id'), name='tasknote_one_event_per_checkin'),
        ),
        migrations.AddConstraint(
            model_name='tasknote',
            constraint=models.UniqueConstraint(condition=models.Q(('kind', 'event'), ('window__isnull', False)), fields=('task', 'window'), name='tasknote_one_event_per_window'),
        ),
        migrations.AddConstraint(
            model_name='tasknote',
            constraint=models.UniqueConstraint(condition=models.Q(('consent_record__isnull', False), ('kind', 'event')), fields=('task', 'consent_record'), name='tasknote_one_event_per_consent'),
        ),
        # Last: on PostgreSQL, rows written here leave deferred foreign-key checks pending,
        # and no index may be built on their tables in the same transaction (hence 0008).
        migrations.RunPython(merge_duplicate_open_tasks, migrations.RunPython.noop),
    ]
