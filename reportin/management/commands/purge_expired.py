"""Delete the images and face encodings whose retention period is over (README: Retention)."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from enforcement.progress import Progress
from reportin import retention

LABELS = {
    retention.SELFIES: ("check-in selfies", "REPORTIN_RETAIN_SELFIE_DAYS", "days after the check-in is settled"),
    retention.REFERENCE_PHOTOS: ("reference photos and encodings", "REPORTIN_RETAIN_REFERENCE_DAYS", "days after the case closed"),
    retention.REJECTED_PHOTOS: ("rejected reference photos", "REPORTIN_RETAIN_REJECTED_PHOTO_DAYS", "days after upload"),
    retention.EXPORTS: ("auditors' CSV export files", "REPORTIN_RETAIN_EXPORT_DAYS", "days after they were written"),
    retention.CHECKIN_ROWS: ("check-in rows and match figures", "REPORTIN_RETAIN_CHECKIN_DAYS", "days after the check-in is settled, selfie deleted"),
    retention.NOTIFICATIONS: ("finished notifications to people", "REPORTIN_RETAIN_NOTIFICATION_DAYS", "days after they were created"),
    retention.MESSAGES: ("messages with the person and their attachments", "REPORTIN_RETAIN_MESSAGE_DAYS", "days after they were written"),
    retention.ACCESS_RECORDS: ("biometric access records", "REPORTIN_RETAIN_ACCESS_RECORD_DAYS", "days after the view"),
}


class Command(BaseCommand):
    help = "Delete selfies, reference photos, encodings and rows whose retention period is over. Audited."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Show what is due; delete nothing.")

    def handle(self, *args, dry_run=False, **options):
        plan = retention.purge_plan(now=timezone.now())
        total = sum(len(ids) for ids in plan.values())
        for data_class, ids in plan.items():
            label, setting, rule = LABELS[data_class]
            self.stdout.write(f"{label}: {len(ids)} due ({getattr(settings, setting)} {rule}; {setting})")
        if dry_run:
            self.stdout.write(f"Dry run: {total} item(s) would be deleted; nothing was changed.")
            return
        with Progress(total, label="purging", stream=self.stderr) as progress:
            result = retention.purge_expired(plan=plan, progress=lambda n: progress.update(advance=n))
        done = sum(result.counts.values())
        detail = ", ".join(f"{LABELS[k][0]}: {v}" for k, v in result.counts.items())
        skipped = total - done
        note = f" ({skipped} no longer due when reached)" if skipped else ""
        self.stdout.write(f"Deleted {done} item(s){note}: {detail}. Recorded as audit events (retention.purge).")
