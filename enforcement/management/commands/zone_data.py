"""Print the time-zone database this deployment computes reporting windows with."""

import json

from django.core.management.base import BaseCommand

from enforcement.zonedata import zone_data


class Command(BaseCommand):
    help = "Print the time-zone data version in use (the pinned tzdata wheel, not the host's)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")

    def handle(self, *args, **options):
        data = zone_data()
        source = "the host: " + ", ".join(data.search_path) if data.search_path else "the tzdata package"
        if options["json"]:
            self.stdout.write(json.dumps({
                "iana_version": data.iana_version, "tzdata_version": data.package_version,
                "host_paths_first": list(data.search_path),
            }))
            return
        self.stdout.write(f"Time zones: IANA {data.iana_version} (tzdata {data.package_version}), read from {source}.")
