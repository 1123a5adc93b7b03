from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reportin", "0003_activation_throttle"),
    ]

    operations = [
        migrations.AddField(
            model_name="checkin",
            name="scoring_task_id",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
    ]
