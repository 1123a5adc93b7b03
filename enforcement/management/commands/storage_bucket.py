"""Make sure the file storage is usable: create the bucket named by REPORTIN_S3_BUCKET when it
does not exist yet, then seal, read back and delete a probe file through the application's
own encrypted storage. Safe to run at every deployment (compose runs it before migrate)."""

import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the object-store bucket if missing and check that files can be written, read and deleted."

    def handle(self, *args, **options):
        storage = storages["default"]
        where = f"s3://{storage.bucket_name}" if hasattr(storage, "bucket_name") else str(getattr(storage, "location", ""))
        if hasattr(storage, "bucket_name"):
            from botocore.exceptions import ClientError

            client = storage.connection.meta.client
            try:
                client.head_bucket(Bucket=storage.bucket_name)
                created = False
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                    raise CommandError(f"{where}: {exc}") from None
                client.create_bucket(Bucket=storage.bucket_name)
                created = True
            if created:
                self.stdout.write(f"Created the bucket {where}.")
        probe = f"probe/{uuid.uuid4().hex}"
        payload = uuid.uuid4().bytes * 64
        try:
            name = storage.save(probe, ContentFile(payload))
            with storage.open(name, "rb") as handle:
                if handle.read() != payload:
                    raise CommandError(f"{where}: a probe file did not read back as written")
            storage.delete(name)
        except CommandError:
            raise
        except Exception as exc:
            raise CommandError(f"{where}: the file storage is not usable: {type(exc).__name__}: {exc}") from None
        self.stdout.write(f"File storage {where}: write, read and delete work.")
