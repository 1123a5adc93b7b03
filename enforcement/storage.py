"""Private file storage for biometric images and exports: encrypted by the application, never
reachable by URL, on the local disk (the embedded default) or in an S3-compatible object store
(production: several web and worker hosts share one bucket).

Every file is sealed in the segment format of enforcement.crypto, bound to its storage
name and, for a model's file (RecordBoundFileField), to its record (RIE4): a blob moved to
another record's row fails to open. Files are streamed in both directions: neither a save nor
an open holds the whole file in memory. Files of the older formats stay readable;
`manage.py reencrypt` rewrites them in the new one.

Order of writing a record's file: the storage name is random and chosen before the row is
saved (`RecordBoundFieldFile.reserve`), the row is inserted with that name, and the blob is
written under the row's id inside the same transaction (`write`): no second UPDATE, and a
failed write rolls the row back.
"""

import contextvars
import os
import shutil
import tempfile

from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models.fields.files import FieldFile

from enforcement import crypto

# The record the file being saved belongs to (Storage.save has no place for it).
_saving_for: contextvars.ContextVar[str | None] = contextvars.ContextVar("saving_for", default=None)

# Plaintext kept in memory while a file is re-sealed; beyond this it spills to a temporary file.
_RESEAL_MEMORY = 1024 * 1024


class EncryptedStorageMixin:
    """Seal on save, open on read. There is no URL: images leave only through views that
    check permission and record the access (enforcement.biometric_images)."""

    @property
    def base_url(self):
        return None

    def url(self, name, *args, **kwargs):
        raise ValueError("Biometric files have no URL; use the permission-checked image views.")

    def _save(self, name, content):
        source = content.file if isinstance(content, File) and content.file is not None else content
        if getattr(source, "seekable", lambda: False)():
            source.seek(0)
        return self._save_sealed(name, crypto.EncryptingReader(source, name, record=_saving_for.get()))

    def save_bound(self, name, content, *, record: str, max_length=None) -> str:
        """Save `content` as `name`, sealed to the record `record` (crypto.record_label)."""
        token = _saving_for.set(record)
        try:
            return self.save(name, content, max_length=max_length)
        finally:
            _saving_for.reset(token)

    def _open(self, name, mode="rb"):
        return self.open_bound(name, mode, record=None)

    def open_bound(self, name, mode="rb", *, record: str | None):
        """Open a stored file for the record it belongs to: a file bound to another record
        raises crypto.RecordMismatch."""
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("Biometric files are written only through save().")
        raw = self.open_sealed(name)
        try:
            return File(crypto.DecryptingReader(raw, name, record=record), name=name)
        except Exception:
            raw.close()
            raise

    def read_sealed(self, name) -> bytes:
        """The bytes as stored (for tests and tools; files can be large, prefer open_sealed)."""
        with self.open_sealed(name) as raw:
            return raw.read()

    def sealed_head(self, name, size: int = crypto.STREAM_HEADER_MAX) -> bytes:
        """The first bytes as stored: enough to tell the format and the key."""
        with self.open_sealed(name) as raw:
            return raw.read(size)

    def needs_reseal(self, name, *, record: str | None = None) -> bool:
        """Whether a stored file is in an older format (not bound to `record` when one is
        given) or under an older key."""
        head = self.sealed_head(name)
        if not crypto.is_stream(head) or crypto.key_id_of(head) != crypto.current_key_id():
            return True
        return record is not None and not crypto.is_bound(head)

    def reseal(self, name, *, record: str | None = None) -> None:
        """Re-encrypt a stored file in place under the current key and format, bound to
        `record` when given (key rotation, migration from the older formats). A file already
        bound opens only for its own record, so a file moved to another record is refused
        here too. The plaintext passes through a temporary file that spills to disk, so a
        large export does not fill the memory."""
        with tempfile.SpooledTemporaryFile(max_size=_RESEAL_MEMORY) as plain:
            with self.open_bound(name, "rb", record=record) as handle:
                shutil.copyfileobj(handle, plain, crypto.SEGMENT_SIZE)
            plain.seek(0)
            self._replace_sealed_stream(name, crypto.EncryptingReader(plain, name, record=record))

    def replace_sealed(self, name, sealed: bytes) -> None:
        """Replace a stored file with already-sealed bytes (tests that plant damaged files)."""
        import io

        self._replace_sealed_stream(name, io.BytesIO(sealed))


class RecordBoundFieldFile(FieldFile):
    """A model's encrypted file, sealed to its record (crypto.record_label) and opened only
    for it. On a storage that does not encrypt, it behaves as a plain FieldFile."""

    @property
    def record(self) -> str:
        return crypto.record_label(self.instance)

    def _bound(self) -> bool:
        return isinstance(self.storage, EncryptedStorageMixin)

    def _get_file(self):
        self._require_file()
        if getattr(self, "_file", None) is None:
            if self._bound():
                self._file = self.storage.open_bound(self.name, "rb", record=self.record)
            else:
                self._file = self.storage.open(self.name, "rb")
        return self._file

    file = property(_get_file, FieldFile._set_file, FieldFile._del_file)

    def open(self, mode="rb"):
        self._require_file()
        if getattr(self, "_file", None) is None:
            if self._bound():
                self.file = self.storage.open_bound(self.name, mode, record=self.record)
            else:
                self.file = self.storage.open(self.name, mode)
        else:
            self.file.open(mode)
        return self

    open.alters_data = True

    def save(self, name, content, save=True):
        """Save a file for a record that has its id already (a replacement, an export)."""
        name = self.field.generate_filename(self.instance, name)
        if self._bound():
            self.name = self.storage.save_bound(name, content, record=self.record, max_length=self.field.max_length)
        else:
            self.name = self.storage.save(name, content, max_length=self.field.max_length)
        setattr(self.instance, self.field.attname, self.name)
        self._committed = True
        if save:
            self.instance.save()

    save.alters_data = True

    def reserve(self, filename: str) -> None:
        """Choose the (random) storage name before the row has an id, so that the row is
        inserted with it; `write` stores the content there once the row is saved."""
        self.name = self.field.generate_filename(self.instance, filename)
        setattr(self.instance, self.field.attname, self.name)
        self._committed = True

    def write(self, content) -> None:
        """Store `content` under the reserved name, sealed to the saved row's id. Call it in
        the transaction that inserted the row: if it fails, the row is rolled back."""
        if not self.name:
            raise ValueError("reserve() a name before write()")
        if self._bound():
            saved = self.storage.save_bound(self.name, content, record=self.record, max_length=self.field.max_length)
        else:
            saved = self.storage.save(self.name, content, max_length=self.field.max_length)
        if saved != self.name:
            self.storage.delete(saved)
            raise FileExistsError(f"{self.name!r} is taken; a reserved name must be new")

    write.alters_data = True


class RecordBoundFileField(models.FileField):
    """A FileField whose encrypted file is bound to its record (RecordBoundFieldFile). The
    database column is a FileField's: migrations see a plain FileField."""

    attr_class = RecordBoundFieldFile

    def deconstruct(self):
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.FileField", args, kwargs


class PrivateEncryptedStorage(EncryptedStorageMixin, FileSystemStorage):
    """The embedded default: a folder (MEDIA_ROOT), files 0600 in directories 0700."""

    def __init__(self, **kwargs):
        kwargs.setdefault("file_permissions_mode", 0o600)
        kwargs.setdefault("directory_permissions_mode", 0o700)
        super().__init__(**kwargs)

    def _save_sealed(self, name, reader) -> str:
        saved = FileSystemStorage._save(self, name, File(reader, name=name))
        if saved != name:
            # Another writer took the name between get_available_name and the write: what was
            # sealed is bound to the first name and would not open under the second.
            FileSystemStorage.delete(self, saved)
            raise FileExistsError(f"{name!r} was taken while it was being written; save again")
        return saved

    def open_sealed(self, name):
        return open(self.path(name), "rb")

    def _replace_sealed_stream(self, name, reader) -> None:
        path = self.path(name)
        tmp = f"{path}.rotating"
        with open(tmp, "wb") as handle:
            shutil.copyfileobj(reader, handle, crypto.SEGMENT_SIZE)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


try:
    from botocore.exceptions import ClientError
    from storages.backends.s3 import S3Storage
    from storages.utils import clean_name
except ImportError:  # pragma: no cover - django-storages is in requirements.txt
    S3Storage = None


if S3Storage is not None:

    class S3EncryptedStorage(EncryptedStorageMixin, S3Storage):
        """An S3-compatible bucket (SeaweedFS in development and CI, any S3 in production).
        Objects are private, hold only ciphertext, and are uploaded and read as streams."""

        def __init__(self, **kwargs):
            kwargs.setdefault("default_acl", None)
            kwargs.setdefault("querystring_auth", False)
            # Names are random, but never overwrite: an object belongs to one record.
            kwargs.setdefault("file_overwrite", False)
            kwargs.setdefault("addressing_style", "path")
            kwargs.setdefault("signature_version", "s3v4")
            kwargs.setdefault("object_parameters", {"ContentType": "application/octet-stream"})
            super().__init__(**kwargs)

        def _key(self, name) -> str:
            return self._normalize_name(clean_name(name))

        def _save_sealed(self, name, reader) -> str:
            return S3Storage._save(self, name, reader)

        def open_sealed(self, name):
            try:
                answer = self.connection.meta.client.get_object(Bucket=self.bucket_name, Key=self._key(name))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404") or (
                    exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
                ):
                    raise FileNotFoundError(f"File does not exist: {name}") from None
                raise
            return answer["Body"]

        def sealed_head(self, name, size: int = crypto.STREAM_HEADER_MAX) -> bytes:
            try:
                answer = self.connection.meta.client.get_object(
                    Bucket=self.bucket_name, Key=self._key(name), Range=f"bytes=0-{size - 1}"
                )
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    raise FileNotFoundError(f"File does not exist: {name}") from None
                raise
            with answer["Body"] as body:
                return body.read()

        def _replace_sealed_stream(self, name, reader) -> None:
            # A PUT replaces an object atomically: readers see the old or the new version.
            S3Storage._save(self, name, reader)

        def put_sealed_file(self, name, handle, *, sha256: str) -> None:
            """Upload already-sealed bytes as they are (storage_migrate: the name is the same,
            so the binding holds), recording their hash for a later verification."""
            self.connection.meta.client.upload_fileobj(
                handle, self.bucket_name, self._key(name),
                ExtraArgs={"ContentType": "application/octet-stream", "Metadata": {"sha256": sha256}},
                Config=self.transfer_config,
            )

        def sealed_sha256(self, name) -> str | None:
            """The hash recorded by put_sealed_file, or None when the object is absent."""
            try:
                answer = self.connection.meta.client.head_object(Bucket=self.bucket_name, Key=self._key(name))
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return None
                raise
            return answer.get("Metadata", {}).get("sha256", "")
