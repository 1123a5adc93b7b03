"""The `file` email backend of the embedded defaults, writing only its owner can read:
reminders name the person and when they must report."""

import os

from django.core.mail.backends.filebased import EmailBackend

from config.devsecrets import private_dir


class PrivateFileEmailBackend(EmailBackend):
    """Django's file backend with the folder made 0700 and each message file 0600."""

    def __init__(self, *args, file_path=None, **kwargs):
        from django.conf import settings

        private_dir(os.path.abspath(file_path or settings.EMAIL_FILE_PATH))
        super().__init__(*args, file_path=file_path, **kwargs)

    def open(self):
        if self.stream is None:
            self.stream = os.fdopen(os.open(self._get_filename(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
            return True
        return False
