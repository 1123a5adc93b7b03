"""Re-encrypt biometric data sealed with an older key under the current (first) key, and
rewrite data of the older formats in the formats bound to their record (and, for files, to
their storage name): enforcement.crypto RIE3 and RIE4.

After putting a new key first in REPORTIN_ENCRYPTION_KEYS, everything stays readable; this
command moves old data to the new key so that the old one can eventually be removed.
It finds every file field on the private encrypted storage and the face encodings of the
reference photos and recent references and the authenticator apps' secrets (every field a
model names in SEALED_VALUES). Resumable: each item is rewritten on its own, and
what is bound under the current key already is skipped (one header read), so it is safe to
interrupt and to run again. An item already bound to another record is left untouched,
reported and logged, and the command then ends with an error.

Once it has run everywhere, REPORTIN_ENCRYPTION_REQUIRE_BINDING=1 refuses unbound data.
"""

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models

from enforcement import crypto
from enforcement.progress import Progress
from enforcement.services import audit_record
from enforcement.storage import EncryptedStorageMixin


def encrypted_file_fields():
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField) and isinstance(field.storage, EncryptedStorageMixin):
                yield model, field


def sealed_value_fields():
    """Encrypted values in the database: the fields a model names in SEALED_VALUES (face
    encodings, authenticator secrets), each bound to its row."""
    for model in apps.get_models():
        for name in getattr(model, "SEALED_VALUES", ()):
            yield model, name


class Command(BaseCommand):
    help = "Re-encrypt biometric files and encodings under the current encryption key."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted; change nothing.")

    def handle(self, *args, **options):
        with crypto.unbound_readable():
            self._run(**options)

    def _run(self, *, dry_run=False, **options):
        current = crypto.current_key_id()
        counts: dict[str, int] = {}
        refused: list[str] = []
        for model, field in encrypted_file_fields():
            rows = model.objects.exclude(**{field.name: ""}).order_by("pk").values_list("pk", field.name)
            label = f"{model._meta.label_lower}.{field.name}"
            with Progress(rows.count(), label=label, stream=self.stderr) as progress:
                for pk, name in rows.iterator(chunk_size=500):
                    storage = field.storage
                    record = f"{model._meta.label_lower}:{pk}"
                    if not storage.exists(name):
                        progress.update(advance=1)
                        continue
                    # Older key, or an older format not bound to its record (or its name).
                    if storage.needs_reseal(name, record=record):
                        counts[label] = counts.get(label, 0) + 1
                        if not dry_run:
                            try:
                                storage.reseal(name, record=record)
                            except crypto.DecryptionError as exc:
                                counts[label] -= 1
                                refused.append(f"{label} {record} ({name}): {exc}")
                    progress.update(advance=1)

        for model, name in sealed_value_fields():
            label = f"{model._meta.label_lower}.{name}"
            rows = model.objects.filter(**{f"{name}__isnull": False}).order_by("pk").values_list("pk", name)
            with Progress(rows.count(), label=label, stream=self.stderr) as progress:
                for pk, encoding in rows.iterator(chunk_size=500):
                    sealed = bytes(encoding)
                    record = f"{model._meta.label_lower}:{pk}"
                    if sealed and (not crypto.is_bound(sealed) or crypto.key_id_of(sealed) != current):
                        counts[label] = counts.get(label, 0) + 1
                        if not dry_run:
                            try:
                                plain = crypto.decrypt(sealed, record=record)
                            except crypto.DecryptionError as exc:
                                counts[label] -= 1
                                refused.append(f"{label} {record}: {exc}")
                            else:
                                # Only the value read is replaced: a concurrent change wins.
                                model.objects.filter(pk=pk, **{name: sealed}).update(**{name: crypto.encrypt(plain, record=record)})
                    progress.update(advance=1)

        total = sum(counts.values())
        if not dry_run and (total or refused):
            audit_record(
                actor=None, action="encryption.reencrypt",
                details={"key_id": current, "counts": counts, "refused": len(refused)},
            )
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        detail = ", ".join(f"{label}: {n}" for label, n in sorted(counts.items())) or "nothing to do"
        self.stdout.write(f"{verb} {total} item(s) under key {current!r} ({detail}).")
        if refused:
            for line in refused:
                self.stderr.write(f"refused: {line}")
            raise CommandError(f"{len(refused)} item(s) did not open for their own record; left as they are (see above).")
