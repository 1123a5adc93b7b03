# One open task per client and reason: existing duplicates are merged first. The oldest open
# task of each (client, reason) stays, takes the highest priority of the group, and gets one
# "further event" note per duplicate (with the duplicate's source, so that its decision settles
# that check-in or window too); each duplicate is resolved as "merged", pointing at it.

from django.db import migrations
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
    for group in list(groups):
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
        ('enforcement', '0007_promises_one_open_task'),
    ]

    operations = [
        migrations.RunPython(merge_duplicate_open_tasks, migrations.RunPython.noop),
    ]
