"""Subject access: everything held about one person, as a zip (README: Retention and subject access)."""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from enforcement.models import Client
from reportin import retention


class Command(BaseCommand):
    help = "Write everything held about a client (JSON and decrypted images) to a zip file. Audited."

    def add_arguments(self, parser):
        parser.add_argument("uci", help="The client's UCI.")
        parser.add_argument("--out", required=True, help="The zip file to write (must not exist).")
        parser.add_argument("--by", default="", help="Who asked for the export (recorded in the audit event).")

    def handle(self, *args, uci, out, by="", **options):
        client = Client.objects.filter(uci=uci.strip()).first()
        if client is None:
            raise CommandError(f"No client with UCI {uci!r}.")
        path = Path(out)
        if path.suffix.lower() != ".zip":
            raise CommandError("--out must name a .zip file.")
        if not path.parent.is_dir():
            raise CommandError(f"Folder {path.parent} does not exist.")
        try:
            # Created private (it holds biometric images), and never over an existing file.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} already exists; choose another name.") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                counts = retention.client_export(client=client, out=handle, exported_by=by or f"export_client ({os.environ.get('USER', 'unknown')})")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self.stdout.write(f"Wrote {path} ({path.stat().st_size:,} bytes): {sum(counts.values())} records of client {client.uci}.")
        self.stdout.write("It holds biometric images in clear: keep it private and delete it once handed over.")
