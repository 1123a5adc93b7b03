# The activation counters now live in enforcement (0012_lockout_activation_throttle).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('reportin', '0006_channel_device_removed_by_person'),
    ]

    operations = [
        migrations.DeleteModel(
            name='ActivationThrottle',
        ),
    ]
