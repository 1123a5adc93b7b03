# The activation counters now live in enforcement (0012_lockout_activation_throttle).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('reportin', '0005_promises_checkin_reviewed'),
    ]

    operations = [
        migrations.DeleteModel(
            name='ActivationThrottle',
        ),
    ]
