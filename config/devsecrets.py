"""Development mode's secrets: made at random on first start and kept in a file only the
owner can read, never derived from anything public.

The file holds the Django secret (it signs sessions and password-reset links) and the key that
encrypts every stored photo. Anyone who can read it holds both, so it is created with mode
0600 in a folder of mode 0700, and a file that others can read is refused rather than used.
"""

import base64
import json
import os
import secrets
import stat
import time
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

FILE_NAME = "dev-secrets.json"


def private_dir(path: Path | str) -> Path:
    """Create `path` (and its parents) if missing; the folder itself is made 0700 when we
    create it, so the files inside cannot be listed or opened by other users."""
    path = Path(path)
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    return path


def _new_secrets() -> dict[str, str]:
    return {
        "secret_key": secrets.token_urlsafe(50),
        "encryption_keys": "dev:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }


def load_or_create(data_dir: Path) -> dict[str, str]:
    """The development secrets under `data_dir`, created on first use. Safe when several
    processes start at once (web, worker, beat): one creates the file, the others read it."""
    path = private_dir(data_dir) / FILE_NAME
    try:
        # O_EXCL: of two processes starting together, exactly one writes the file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as handle:
        values = _new_secrets()
        json.dump(values, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return values


def _read(path: Path) -> dict[str, str]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ImproperlyConfigured(
            f"{path} is readable by other users (mode {mode:o}); it holds the development secret and "
            f"photo key: run `chmod 600 {path}` (or delete it to make new ones, losing the demo's photos)."
        )
    # Another process may be between its O_EXCL create and its write: wait for the content.
    for _ in range(50):
        text = path.read_text()
        if text:
            break
        time.sleep(0.1)
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, dict) or not {"secret_key", "encryption_keys"} <= set(values):
        raise ImproperlyConfigured(f"{path} is damaged: delete it to make new development secrets")
    return values
