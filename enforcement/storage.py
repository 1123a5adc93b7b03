"""Private file storage for biometric images and exports: encrypted by the application, never
reachable by URL, on the local disk (the embedded default) or in an S3-compatible object store
(production: several web and worker hosts share one bucket).

Every file is sealed in the RIE2 segment format of enforcement.crypto, bound to its storage
name, and streamed in both directions: neither a save nor an open holds the whole file in
memory. Files of the older whole-blob format stay readable; `manage.py reencrypt` rewrites
them in the new one.
"""

import os
import shutil
import tempfile

from django.core.files import File
from django.core.files.storage import FileSystemStorage

from enforcement import crypto

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
        return self._save_sealed(name, crypto.EncryptingReader(source, name))

    def _open(self, name, mode="rb"):
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("Biometric files are written only through save().")
        raw = self.open_sealed(name)
        try:
            return File(crypto.DecryptingReader(raw, name), name=name)
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

    def needs_reseal(self, name) -> bool:
        """Whether a stored file is in the older format or under an older key."""
        head = self.sealed_head(name)
        return not crypto.is_stream(head) or crypto.key_id_of(head) != crypto.current_key_id()

    def reseal(self, name) -> None:
        """Re-encrypt a stored file in place under the current key and format (key rotation,
        migration from the whole-blob format). The plaintext passes through a temporary file
        that spills to disk, so a large export does not fill the memory."""
        with tempfile.SpooledTemporaryFile(max_size=_RESEAL_MEMORY) as plain:
            with self.open(name, "rb") as handle:
                shutil.copyfileobj(handle, plain, crypto.SEGMENT_SIZE)
            plain.seek(0)
            self._replace_sealed_stream(name, crypto.EncryptingReader(plain, name))

    def replace_sealed(self, name, sealed: bytes) -> None:
        """Replace a stored file with already-sealed bytes (tests that plant damaged files)."""
        import io

        self._replace_sealed_stream(name, io.BytesIO(sealed))


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
