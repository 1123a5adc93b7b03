"""Walk the audit chain and report the first broken link (exit status 1 if there is one)."""

import sys

from django.core.management.base import BaseCommand

from enforcement import audit
from enforcement.models import AuditEvent
from enforcement.progress import Progress


class Command(BaseCommand):
    help = "Verify the tamper-evident audit trail; exits with status 1 at the first broken link."

    def handle(self, *args, **options):
        total = AuditEvent.objects.count()
        with Progress(total, label="audit events", stream=self.stderr) as progress:
            report = audit.verify(progress=progress.update)
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {report.checked} events verified."))
            return
        self.stderr.write(
            self.style.ERROR(f"Audit trail broken at event #{report.broken_seq}: {report.problem}. "
                             f"{report.checked} events before it verified.")
        )
        sys.exit(1)
