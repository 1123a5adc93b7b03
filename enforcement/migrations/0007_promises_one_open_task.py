# One open task per client and reason, in three steps, each in a transaction of its own (on
# PostgreSQL, rows written in a transaction leave deferred foreign-key checks pending, and no
# index may then be built on their tables): 0007 the schema of notes with a source, 0008 the
# merge of existing duplicates, 0009 the constraint.

import django.db.models.deletion
from django.db import migrations, models


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
    ]
