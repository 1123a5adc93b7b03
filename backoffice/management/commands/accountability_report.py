"""Write the accountability report: HTML with PNG charts (and the figures as JSON)."""

from django.core.management.base import BaseCommand, CommandError

from backoffice import accountability_report
from enforcement.progress import Progress
from enforcement.services import audit_record
from reportin import accountability
from reportin.management.commands.figures_rollup import _date


class Command(BaseCommand):
    help = (
        "Write the accountability report for a period (UTC days, both included): check-ins and outcomes over time; "
        "non-match, no-face and low-quality rates; officer override of non-matches; false matches in the quality "
        "sample; missed reports; by region and country of citizenship with 95% intervals."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, type=_date, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, type=_date, help="last day (included), YYYY-MM-DD")
        parser.add_argument("--out", required=True, help="folder to write index.html, the charts and figures.json into")
        parser.add_argument("--min-group", type=int, default=None, help="rates over fewer cases are marked too small to judge")

    def handle(self, *args, start, end, out, min_group, **options):
        if end < start:
            raise CommandError("--to is before --from")
        with Progress(5, label="accountability report", stream=self.stderr) as progress:
            report = accountability.figures(start=start, end=end, min_group=min_group)
            progress.update(1)
            files = accountability_report.write_report(report, out, progress=lambda step: progress.update(1 + step))
        audit_record(
            actor=None,
            action="report.accountability",
            details={"from": start.isoformat(), "to": end.isoformat(), "checkins": report.total.checkins},
        )
        total = report.total
        self.stdout.write(f"{total.checkins} check-ins ({total.scored} scored) from {start} to {end}")
        for key, title, denominator in accountability.RATES:
            rate = total.rates[key]
            flag = " (too small to judge)" if rate.too_small else ""
            self.stdout.write(f"  {title}: {rate.percent} ({rate.count}/{rate.of} {denominator}) [{rate.interval}]{flag}")
        self.stdout.write(f"report: {files['html']}")
