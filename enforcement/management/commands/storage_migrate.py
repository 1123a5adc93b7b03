"""Copy an existing media folder (the embedded default's encrypted files) into the object
store named by REPORTIN_S3_BUCKET, under the same names.

Files are copied as they are stored, still sealed: the key never has to be present and the
binding of each file to its name holds, because the name does not change. Every copy is
verified by reading it back and comparing its SHA-256 with the local file's, and the hash is
kept on the object: a second run skips what is already there and verified, so an interrupted
run is simply started again. Local files are never deleted; remove the folder yourself once
the application runs on the bucket.
"""

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError

from enforcement.progress import Progress
from enforcement.services import audit_record

_CHUNK = 1024 * 1024
# Left behind by an interrupted key rotation (enforcement.storage): not a stored file.
_TEMPORARY_SUFFIXES = (".rotating",)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_stream(stream) -> str:
    digest = hashlib.sha256()
    with stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Command(BaseCommand):
    help = "Copy a media folder into the object store (REPORTIN_S3_BUCKET), resumable, verified by SHA-256."

    def add_arguments(self, parser):
        parser.add_argument("--source", help="The media folder to copy (default: MEDIA_ROOT).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be copied; copy nothing.")

    def handle(self, *args, source=None, dry_run=False, **options):
        storage = storages["default"]
        if not hasattr(storage, "put_sealed_file"):
            raise CommandError(
                "The file storage is the local folder: set REPORTIN_S3_BUCKET (and REPORTIN_S3_ENDPOINT_URL, "
                "REPORTIN_S3_ACCESS_KEY_ID, REPORTIN_S3_SECRET_ACCESS_KEY) to name the bucket to copy into."
            )
        root = Path(source or settings.MEDIA_ROOT).resolve()
        if not root.is_dir():
            raise CommandError(f"{root} is not a folder")
        files = sorted(
            path for path in root.rglob("*") if path.is_file() and not path.name.endswith(_TEMPORARY_SUFFIXES)
        )
        copied = present = failed = 0
        size = 0
        with Progress(len(files), label=f"{root} -> s3://{storage.bucket_name}", stream=self.stderr) as progress:
            for path in files:
                name = path.relative_to(root).as_posix()
                local = _sha256_file(path)
                if storage.sealed_sha256(name) == local:
                    present += 1
                    progress.update(advance=1)
                    continue
                if dry_run:
                    copied += 1
                    progress.update(advance=1)
                    continue
                with path.open("rb") as handle:
                    storage.put_sealed_file(name, handle, sha256=local)
                # Read it back: what the bucket holds is what the folder held.
                if _sha256_stream(storage.open_sealed(name)) != local:
                    failed += 1
                    self.stderr.write(f"{name}: the copy in the bucket differs from the local file")
                    # Leave no object that claims a verified hash.
                    storage.delete(name)
                else:
                    copied += 1
                    size += path.stat().st_size
                progress.update(advance=1)
        if not dry_run and (copied or failed):
            audit_record(
                actor=None, action="storage.migrate",
                details={"source": str(root), "bucket": storage.bucket_name, "copied": copied, "present": present, "failed": failed},
            )
        verb = "Would copy" if dry_run else "Copied"
        self.stdout.write(
            f"{verb} {copied} file(s) ({size / 1e6:.1f} MB) to s3://{storage.bucket_name}; "
            f"{present} already there and verified; {failed} failed."
        )
        if failed:
            raise CommandError(f"{failed} file(s) did not verify; run the command again")
