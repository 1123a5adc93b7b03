"""Request bodies with hard caps: JSON bodies are small; multipart uploads are held in memory and
refused as soon as the cap is passed."""

import io

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext as _
from rest_framework.parsers import JSONParser

from reportin.api.errors import BodyTooLarge, UploadTooLarge

# Room for the form's other fields and the multipart framing around the photo.
FORM_OVERHEAD_BYTES = 64 * 1024


def _too_large() -> UploadTooLarge:
    megabytes = settings.REPORTIN_UPLOAD_MAX_BYTES / (1024 * 1024)
    return UploadTooLarge(_("The photo is larger than %(size).0f MB.") % {"size": megabytes})


class CappedMemoryUploadHandler(FileUploadHandler):
    """Keeps uploaded files in memory, at most REPORTIN_UPLOAD_MAX_BYTES in all. A request
    announcing more is refused before its body is read; one that sends more than it announced
    is refused at the chunk that passes the cap. Nothing touches the disk."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > settings.REPORTIN_UPLOAD_MAX_BYTES + FORM_OVERHEAD_BYTES:
            raise _too_large()
        self.total = 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()

    def receive_data_chunk(self, raw_data, start):
        self.total += len(raw_data)
        if self.total > settings.REPORTIN_UPLOAD_MAX_BYTES:
            raise _too_large()
        self.buffer.write(raw_data)

    def file_complete(self, file_size):
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def cap_uploads(request) -> None:
    """Use the capped handler for this request (before its body is read)."""
    request._request.upload_handlers = [CappedMemoryUploadHandler(request._request)]


class CappedJSONParser(JSONParser):
    """JSON bodies of this API are a few hundred bytes. DRF reads them past Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE, so the cap is checked here, before anything is read."""

    max_bytes = 64 * 1024

    def parse(self, stream, media_type=None, parser_context=None):
        length = parser_context["request"].META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > self.max_bytes:
            raise BodyTooLarge(_("The request is too large."))
        return super().parse(stream, media_type, parser_context)
