"""The `file` email backend of the embedded defaults, writing only its owner can read:
reminders name the person and when they must report."""

import os
import uuid
from datetime import datetime

from django.core.mail.backends.filebased import EmailBackend

from config.devsecrets import private_dir


class PrivateFileEmailBackend(EmailBackend):
    """Django's file backend with the folder made 0700 and each message file 0600."""

    def __init__(self, *args, file_path=None, **kwargs):
        from django.conf import settings

        private_dir(os.path.abspath(file_path or settings.EMAIL_FILE_PATH))
        super().__init__(*args, file_path=file_path, **kwargs)

    def _get_filename(self):
        # Django names the file after the second and id(self): two connections opened in the
        # same second by objects at the same address (one freed, the next made) shared a file,
        # and the second message was appended to the first's (a test saw 2 reminders of 3).
        if self._fname is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
            self._fname = os.path.join(self.file_path, f"{stamp}-{uuid.uuid4().hex[:12]}.log")
        return self._fname

    def open(self):
        if self.stream is None:
            self.stream = os.fdopen(os.open(self._get_filename(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
            return True
        return False
