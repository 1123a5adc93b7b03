"""Private file storage for biometric images: encrypted on disk, never reachable by URL."""

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from enforcement import crypto


class PrivateEncryptedStorage(FileSystemStorage):
    """Files are sealed with enforcement.crypto on save and opened on read. There is no URL:
    images leave only through views that check permission and record the access."""

    def __init__(self, **kwargs):
        kwargs.setdefault("file_permissions_mode", 0o600)
        kwargs.setdefault("directory_permissions_mode", 0o700)
        super().__init__(**kwargs)

    @property
    def base_url(self):
        return None

    def url(self, name):
        raise ValueError("Biometric files have no URL; use the permission-checked image views.")

    def _save(self, name, content):
        content.seek(0)
        sealed = crypto.encrypt(content.read())
        return super()._save(name, ContentFile(sealed))

    def _open(self, name, mode="rb"):
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("Biometric files are written only through save().")
        with super()._open(name, "rb") as raw:
            sealed = raw.read()
        return ContentFile(crypto.decrypt(sealed), name=name)

    def read_sealed(self, name) -> bytes:
        """The bytes as stored (for key rotation)."""
        with super()._open(name, "rb") as raw:
            return raw.read()

    def replace_sealed(self, name, sealed: bytes) -> None:
        """Atomically replace a stored file with already-sealed bytes (key rotation)."""
        import os

        path = self.path(name)
        tmp = f"{path}.rotating"
        with open(tmp, "wb") as handle:
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
