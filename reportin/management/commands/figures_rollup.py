"""Count past days into the accountability figures' table (the nightly job does the last
REPORTIN_ROLLUP_DAYS days; this command does any period, e.g. after a late correction or when
first deploying the table)."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from enforcement.progress import Progress
from reportin import accountability


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None

class Command(BaseCommand):
    help = (
        "Count the days --from to --to (UTC, both included; past days only) into the accountability figures' "
        "table that the dashboard and the report read. Safe to run again: each day is counted afresh."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, type=_date, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", type=_date, default=None, help="last day (included), YYYY-MM-DD; default yesterday")

    def handle(self, *args, start, end, **options):
        yesterday = timezone.now().date() - timedelta(days=1)
        end = end or yesterday
        if end < start:
            raise CommandError("--to is before --from")
        if end > yesterday:
            raise CommandError(f"--to must be a day that is over (UTC): {yesterday} at the latest; today is counted live")
        days = [start + timedelta(days=k) for k in range((end - start).days + 1)]
        checkins = 0
        with Progress(len(days), label="figures rollup", stream=self.stderr) as progress:
            for n, day in enumerate(days, 1):
                checkins += accountability.rollup_day(day=day).checkins
                progress.update(n)
        self.stdout.write(f"Counted {len(days)} day(s) from {start} to {end}: {checkins} check-ins.")
