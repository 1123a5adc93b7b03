"""Walk the audit chain, compare it with the published heads, and report the first broken link
or contradicted head (exit status 1 if there is one). The outcome is kept for the auditors'
dashboard."""

import sys

from django.core.management.base import BaseCommand

from enforcement import audit
from enforcement.models import AuditEvent
from enforcement.progress import Progress


class Command(BaseCommand):
    help = "Verify the tamper-evident audit trail against its published heads; exits with status 1 at the first problem."

    def handle(self, *args, **options):
        total = AuditEvent.objects.count()
        with Progress(total, label="audit events", stream=self.stderr) as progress:
            report = audit.verify(progress=progress.update)
        audit.verification_record(report=report)
        if report.ok:
            self.stdout.write(self.style.SUCCESS(
                f"Audit trail intact: {report.checked} events verified, {report.heads_compared} published heads matched."
            ))
            return
        self.stderr.write(
            self.style.ERROR(f"Audit trail broken at event #{report.broken_seq}: {report.problem}. "
                             f"{report.checked} events before it verified.")
        )
        sys.exit(1)
