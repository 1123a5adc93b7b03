"""Re-encrypt biometric data sealed with an older key under the current (first) key, and
rewrite stored files of the older whole-blob format in the segment format bound to their
storage name (enforcement.crypto).

After putting a new key first in REPORTIN_ENCRYPTION_KEYS, everything stays readable; this
command moves old data to the new key so that the old one can eventually be removed.
It finds every file field on the private encrypted storage and the reference photos' face
encodings (their own and their re-encodings by other face models). Safe to interrupt and to
run again.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import models

from enforcement import crypto
from enforcement.models import ReferenceEncoding, ReferencePhoto
from enforcement.progress import Progress
from enforcement.services import audit_record
from enforcement.storage import EncryptedStorageMixin


def encrypted_file_fields():
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField) and isinstance(field.storage, EncryptedStorageMixin):
                yield model, field


class Command(BaseCommand):
    help = "Re-encrypt biometric files and encodings under the current encryption key."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted; change nothing.")

    def handle(self, *args, dry_run=False, **options):
        current = crypto.current_key_id()
        counts: dict[str, int] = {}
        for model, field in encrypted_file_fields():
            rows = model.objects.exclude(**{field.name: ""}).values_list("pk", field.name)
            label = f"{model._meta.label_lower}.{field.name}"
            with Progress(rows.count(), label=label, stream=self.stderr) as progress:
                for _, name in rows.iterator(chunk_size=500):
                    storage = field.storage
                    if not storage.exists(name):
                        progress.update(advance=1)
                        continue
                    # Older key, or the older whole-blob format that is not bound to its name.
                    if storage.needs_reseal(name):
                        counts[label] = counts.get(label, 0) + 1
                        if not dry_run:
                            storage.reseal(name)
                    progress.update(advance=1)

        # Face encodings: the photos' own, and their re-encodings by other face models.
        for model in (ReferencePhoto, ReferenceEncoding):
            label = f"{model._meta.label_lower}.encoding"
            rows = model.objects.filter(encoding__isnull=False).values_list("pk", "encoding")
            with Progress(rows.count(), label="face encodings", stream=self.stderr) as progress:
                for pk, encoding in rows.iterator(chunk_size=500):
                    sealed = bytes(encoding)
                    if crypto.key_id_of(sealed) != current:
                        counts[label] = counts.get(label, 0) + 1
                        if not dry_run:
                            model.objects.filter(pk=pk).update(encoding=crypto.encrypt(crypto.decrypt(sealed)))
                    progress.update(advance=1)

        total = sum(counts.values())
        if not dry_run and total:
            audit_record(actor=None, action="encryption.reencrypt", details={"key_id": current, "counts": counts})
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        detail = ", ".join(f"{label}: {n}" for label, n in sorted(counts.items())) or "nothing to do"
        self.stdout.write(f"{verb} {total} item(s) under key {current!r} ({detail}).")
