# The activation counters move here from reportin (whose 0006_lockout migration drops the old
# table): activation_code_issue clears them and the client's page shows them, and enforcement
# must not import reportin. The old counters are not copied: they are keyed differently and
# forgotten within a day anyway.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('enforcement', '0013_channel_contact_channels_notices_offices'),
    ]

    operations = [
        migrations.CreateModel(
            name='ActivationThrottle',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scope', models.CharField(choices=[('uci', 'UCI'), ('uci_address', 'UCI from one address'), ('address', 'Client address')], max_length=16)),
                ('key_hash', models.CharField(max_length=64)),
                ('uci_hash', models.CharField(blank=True, db_index=True, max_length=64)),
                ('failures', models.PositiveIntegerField(default=0)),
                ('last_failure_at', models.DateTimeField(blank=True, null=True)),
                ('locked_until', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'activation throttle',
                'verbose_name_plural': 'activation throttles',
                'constraints': [models.UniqueConstraint(fields=('scope', 'key_hash'), name='activation_throttle_scope_key_unique')],
            },
        ),
    ]
