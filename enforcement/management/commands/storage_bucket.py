"""Make sure the file storage is usable: create the bucket named by REPORTIN_S3_BUCKET when it
does not exist yet, then seal, read back and delete a probe file through the application's
own encrypted storage. Also creates the audit heads' bucket (enforcement.audit.heads_bucket)
with S3 Object Lock, and says whether the store keeps it on. Safe to run at every deployment
(compose runs it before migrate)."""

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
            self._heads_bucket(client)
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

    def _heads_bucket(self, client) -> None:
        from botocore.exceptions import ClientError

        from enforcement import audit

        store = audit.heads_bucket()
        try:
            client.head_bucket(Bucket=store.bucket)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                raise CommandError(f"s3://{store.bucket}: {exc}") from None
            # Object Lock can only be turned on when the bucket is made (it turns versioning on).
            client.create_bucket(Bucket=store.bucket, ObjectLockEnabledForBucket=True)
            self.stdout.write(f"Created the audit heads bucket s3://{store.bucket} with Object Lock.")
        try:
            enabled = client.get_object_lock_configuration(Bucket=store.bucket)["ObjectLockConfiguration"].get("ObjectLockEnabled")
        except ClientError:
            enabled = None
        if enabled == "Enabled":
            self.stdout.write(f"Audit heads bucket s3://{store.bucket}: Object Lock on.")
        else:
            self.stderr.write(
                f"Audit heads bucket s3://{store.bucket}: Object Lock is OFF (the bucket was made without it, or the store "
                "does not support it); heads are written once per key but could be deleted. Make a new bucket with Object "
                "Lock and name it in REPORTIN_AUDIT_HEADS_BUCKET, or set REPORTIN_AUDIT_HEADS_RETENTION_DAYS=0."
            )
