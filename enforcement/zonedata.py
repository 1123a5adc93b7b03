"""Which time-zone database this process reads (config/__init__.py pins it to the `tzdata`
wheel), and a system check that refuses to run on any other."""

import zoneinfo
from dataclasses import dataclass

from django.core import checks


@dataclass(frozen=True)
class ZoneData:
    package_version: str  # the tzdata wheel, e.g. "2026.6"
    iana_version: str  # the IANA release inside it, e.g. "2026f"
    search_path: tuple[str, ...]  # folders zoneinfo tries before the wheel; () when pinned


def zone_data() -> ZoneData:
    import tzdata

    return ZoneData(package_version=tzdata.__version__, iana_version=tzdata.IANA_VERSION, search_path=zoneinfo.TZPATH)


@checks.register()
def check_zone_data(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        data = zone_data()
    except ImportError:
        return [checks.Error(
            "The tzdata package is not installed: reporting windows need the pinned time-zone database.",
            hint="Install the requirements (python3 dev.py run does).", id="enforcement.E010",
        )]
    if data.search_path:
        # A host folder first in the path would shadow the wheel for every zone it has.
        return [checks.Error(
            f"Time zones are read from the host ({', '.join(data.search_path)}) before the pinned tzdata "
            f"{data.package_version}.",
            hint="Import the config package before anything that reads zones, or set PYTHONTZPATH to an empty value.",
            id="enforcement.E011",
        )]
    return []
