# The constraint, after the merge of duplicates (0008), in a transaction of its own.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('enforcement', '0008_promises_merge_open_tasks'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='investigationtask',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['open', 'in_progress'])), fields=('client', 'reason'), name='task_one_open_per_client_reason'),
        ),
    ]
