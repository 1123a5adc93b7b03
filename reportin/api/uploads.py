"""Request bodies with hard caps: JSON bodies are small; multipart uploads are held in memory and
refused as soon as the cap is passed."""

import io
import re

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
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


# No request of this API nests more than a few levels; Python's parser recurses once per level
# and 30,000 opening brackets (60 KB) exhaust its stack: a 500, unauthenticated (issue 14.9).
JSON_MAX_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth_exceeds(body: bytes, limit: int = JSON_MAX_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects deeper than `limit`, found by counting
    brackets outside strings, without parsing (and so without recursing)."""
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub(b"", body)):
        if bracket.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class CappedJSONParser(JSONParser):
    """JSON bodies of this API are a few hundred bytes. DRF reads them past Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE, so the cap is checked here, before anything is read; so is
    the nesting depth, before the recursive parser sees the body."""

    max_bytes = 64 * 1024

    def parse(self, stream, media_type=None, parser_context=None):
        length = parser_context["request"].META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > self.max_bytes:
            raise BodyTooLarge(_("The request is too large."))
        body = stream.read(self.max_bytes + 1) if stream is not None else b""
        if len(body) > self.max_bytes:
            raise BodyTooLarge(_("The request is too large."))
        if json_depth_exceeds(body):
            raise ParseError(_("The request nests deeper than %(depth)d levels.") % {"depth": JSON_MAX_DEPTH})
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:  # a second line, should the count above ever be wrong
            raise ParseError(_("The request nests too deeply.")) from None
