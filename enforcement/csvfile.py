"""The one CSV writer of the project. Every CSV that leaves the server (auditors' exports, the
triage queue's task export) is written through `writer`, which neutralises cells a
spreadsheet would run as a formula (CSV injection: a client's name or an officer's note
beginning with "=HYPERLINK(...)" would run when the file is opened)."""

import csv
from collections.abc import Iterable, Iterator
from datetime import date, datetime

# Cells a spreadsheet would run as a formula; such text gets a leading quote (OWASP's advice).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe(value) -> object:
    """One cell as written: empty for None, ISO 8601 for times, text that a spreadsheet would
    run quoted. Numbers stay numbers (-0.5 is a value, not a formula)."""
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class writer:  # noqa: N801 - named like csv.writer, which it replaces
    """csv.writer whose every cell goes through `safe`."""

    def __init__(self, file):
        self._writer = csv.writer(file)

    def writerow(self, row: Iterable):
        return self._writer.writerow([safe(value) for value in row])

    def writerows(self, rows: Iterable[Iterable]) -> None:
        for row in rows:
            self.writerow(row)


class _Echo:
    """A file that returns what is written: the writer then yields each line for streaming."""

    def write(self, value):
        return value


def lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """Each row as one CSV line, for a streaming response."""
    out = writer(_Echo())
    for row in rows:
        yield out.writerow(row)
