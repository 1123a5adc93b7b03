"""A corpus of hostile and awkward image files, made at run time (nothing big is committed).

Each entry: the bytes, the name and type the phone claims, what the API must answer (a 4xx
with its code, or 202) and what scoring must conclude when the same bytes reach the worker
directly, past the API's checks (as a file written by an older version, or a bug, would).
"""

import functools
import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image

from tests import images

# What scoring may conclude about a picture of the astronaut (her reference is enrolled)
# that is not a plain RGB JPEG: any verdict except a crash; she is usually matched.
ANY_VERDICT = frozenset({"match", "non_match", "no_face", "low_quality", "multiple_faces", "unreadable"})
UNREADABLE = frozenset({"unreadable"})
NO_USABLE_FACE = frozenset({"no_face", "low_quality", "unreadable"})


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    filename: str
    content_type: str
    api_status: int
    api_code: str | None  # the error code, None for 202
    worker: frozenset  # FaceMatch decisions allowed when scored directly


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (RGB), with a few bytes of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG with its frame header (SOF0) rewritten to claim width x height."""
    data = bytearray(images.jpeg(Image.new("RGB", (16, 16), (120, 80, 60))))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def flat_png(width: int, height: int) -> bytes:
    """A real, fully decodable PNG of one colour: megapixels from a few kilobytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 30, 30)).save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def astronaut_jpeg() -> bytes:
    return images.jpeg(images.astronaut_elsewhere(), quality=85)


def astronaut_png() -> bytes:
    return images.png(images.astronaut_elsewhere())


def cmyk_jpeg() -> bytes:
    buffer = io.BytesIO()
    images.astronaut_elsewhere().convert("CMYK").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def png_16bit() -> bytes:
    import numpy as np

    grey = np.asarray(images.astronaut_elsewhere().convert("L"), dtype=np.uint16) * 257
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="PNG")  # mode I;16
    return buffer.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def apng() -> bytes:
    head = images.astronaut().resize((180, 165))
    frames = [head, head.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def with_enormous_metadata(jpeg: bytes, *, segments: int = 120) -> bytes:
    """A JPEG carrying ~7.5 MB of metadata: an EXIF block at its 64 KB maximum, then APP2-APP15
    and comment segments, each at the maximum size, before the image itself."""
    exif = b"Exif\x00\x00" + b"II*\x00\x08\x00\x00\x00" + b"\x00" * (65533 - 14)
    blocks = [b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif]
    for index in range(segments):
        marker = 0xE2 + index % 14 if index % 15 else 0xFE
        blocks.append(bytes([0xFF, marker]) + struct.pack(">H", 65535) + bytes([index % 251]) * 65533)
    return jpeg[:2] + b"".join(blocks) + jpeg[2:]


def truncated(data: bytes, share: float = 0.6) -> bytes:
    return data[: int(len(data) * share)]


ZIP_TAIL = (
    b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x05\x00\x00\x00"
    b"\x08\x00\x00\x00evil.txthello"
    b"<html><script>alert(document.cookie)</script></html>"
)


def polyglot_jpeg_zip() -> bytes:
    """A valid JPEG with a ZIP archive and HTML appended (a GIFAR-style polyglot)."""
    return astronaut_jpeg() + ZIP_TAIL


def html_with_jpeg_magic() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00<html><body><script>alert(1)</script></body></html>" + b" " * 200


def html_with_gif_magic() -> bytes:
    return b"GIF89a/*<html><script>alert(1)</script></html>*/=1;"


def png_text_bomb() -> bytes:
    """A small PNG with a compressed text chunk that inflates to 64 MB."""
    base = images.png(Image.new("RGB", (8, 8)))
    bomb = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (64 * 1024 * 1024), 9))
    end = base.index(b"IEND") - 4
    return base[:end] + bomb + base[end:]


def progressive_jpeg(image: Image.Image | None = None, **save_kwargs) -> bytes:
    return images.jpeg(image or images.astronaut_elsewhere(), quality=85, progressive=True, **save_kwargs)


def jpeg_scans(data: bytes) -> list[bytes]:
    """Each scan of a JPEG: its SOS segment and the entropy-coded data up to the next marker."""
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xDA]
    scans = []
    for start in starts:
        (length,) = struct.unpack(">H", data[start + 2 : start + 4])
        pos = start + 2 + length
        while not (data[pos] == 0xFF and data[pos + 1] not in (0x00, *range(0xD0, 0xD8))):
            pos += 1
        scans.append(data[start:pos])
    return scans


def progressive_scan_bomb(repeats: int = 30_000, *, orientation: int = 1) -> bytes:
    """Issue 14.1: a 12 MP progressive JPEG whose smallest refinement scan (15 bytes: a flat
    picture has no detail to refine) is repeated thousands of times before its end marker.
    libjpeg decodes every scan over the whole picture, so the cost grows with the file, not
    with its pixels: 30,000 repeats make a 520 KB file (the reviewer's was 504 KB)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = progressive_jpeg(Image.new("RGB", (4032, 3024), (120, 90, 70)), exif=exif.tobytes())
    smallest = min(jpeg_scans(data)[1:], key=len)
    end = data.rindex(b"\xff\xd9")
    return data[:end] + smallest * repeats + data[end:]


def gps_exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (43.0, 39.0, 11.0), 3: "W", 4: (79.0, 22.0, 59.0)}
    return exif.tobytes()


SECRET_NOTE = b"Lives at 12 Elm St, Toronto"


def metadata_between_scans() -> bytes:
    """Issue 14.2: a progressive JPEG with an EXIF block (GPS included), an XMP block and a
    comment after its third scan, where a strip of the header alone leaves them."""
    data = progressive_jpeg()
    exif = b"Exif\x00\x00" + gps_exif()
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>" + SECRET_NOTE + b"</x:xmpmeta>"
    blocks = b"".join(
        bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body
        for marker, body in ((0xE1, exif), (0xE1, xmp), (0xFE, SECRET_NOTE))
    )
    third = data.index(jpeg_scans(data)[3])
    return data[:third] + blocks + data[third:]


def bmp() -> bytes:
    buffer = io.BytesIO()
    images.astronaut().save(buffer, format="BMP")
    return buffer.getvalue()


@functools.cache
def corpus() -> tuple[Hostile, ...]:
    jpeg = astronaut_jpeg()
    one_jpeg = images.jpeg(Image.new("RGB", (1, 1), (128, 128, 128)))
    one_png = images.png(Image.new("RGB", (1, 1), (128, 128, 128)))
    entries = [
        # Decompression bombs: headers claiming billions of pixels, refused before decoding.
        Hostile("png_header_100000x100000", png_claiming(100_000, 100_000), "selfie.png", "image/png", 400, "image_too_large", UNREADABLE),
        Hostile("jpeg_header_65500x65500", jpeg_claiming(65_500, 65_500), "selfie.jpg", "image/jpeg", 400, "image_too_large", UNREADABLE),
        # ...a real one: a 36 MP flat PNG in a few dozen kilobytes (no photo compresses so well;
        # PNGs are decoded whole, so their cap is lower).
        Hostile("png_flat_36mp", flat_png(6000, 6000), "selfie.png", "image/png", 400, "image_too_large", UNREADABLE),
        # ...and one within the cap, decoded and scored (no face in it).
        Hostile("png_flat_9mp", flat_png(3000, 3000), "selfie.png", "image/png", 202, None, NO_USABLE_FACE),
        # A text chunk that inflates to 64 MB: the request drops it unread (no pixel or text is
        # decoded there); a worker handed the raw file refuses it.
        Hostile("png_text_chunk_bomb", png_text_bomb(), "selfie.png", "image/png", 202, None, UNREADABLE),
        # Progressive JPEG scan bomb (issue 14.1): refused by counting scans, never decoded.
        Hostile("progressive_jpeg_scan_bomb", progressive_scan_bomb(), "selfie.jpg", "image/jpeg", 400, "invalid_image", UNREADABLE),
        # Metadata between the scans of a progressive JPEG (issue 14.2): stripped, then scored.
        Hostile("jpeg_metadata_between_scans", metadata_between_scans(), "selfie.jpg", "image/jpeg", 202, None, ANY_VERDICT),
        # Damaged files.
        Hostile("truncated_jpeg", truncated(jpeg), "selfie.jpg", "image/jpeg", 400, "invalid_image", UNREADABLE),
        Hostile("truncated_png", truncated(astronaut_png()), "selfie.png", "image/png", 400, "invalid_image", UNREADABLE),
        # Polyglots.
        Hostile("jpeg_with_zip_and_html_appended", polyglot_jpeg_zip(), "selfie.jpg", "image/jpeg", 202, None, ANY_VERDICT),
        Hostile("html_behind_jpeg_magic", html_with_jpeg_magic(), "selfie.jpg", "image/jpeg", 400, "invalid_image", UNREADABLE),
        Hostile("html_behind_gif_magic", html_with_gif_magic(), "selfie.gif", "image/gif", 415, "unsupported_image_type", UNREADABLE),
        Hostile("plain_html", b"<!doctype html><html><script>alert(1)</script></html>", "selfie.jpg", "image/jpeg", 415, "not_an_image", UNREADABLE),
        # Unusual but valid encodings: scored like any photo.
        Hostile("cmyk_jpeg", cmyk_jpeg(), "selfie.jpg", "image/jpeg", 202, None, ANY_VERDICT),
        Hostile("grey_16bit_png", png_16bit(), "selfie.png", "image/png", 202, None, ANY_VERDICT),
        # Animations.
        Hostile("animated_gif", animated_gif(), "selfie.gif", "image/gif", 415, "unsupported_image_type", UNREADABLE),
        Hostile("animated_png", apng(), "selfie.png", "image/png", 400, "animated_image", UNREADABLE),
        # Metadata: 7.5 MB of it around a normal selfie, stripped before storage.
        Hostile("jpeg_with_enormous_metadata", with_enormous_metadata(jpeg), "selfie.jpg", "image/jpeg", 202, None, ANY_VERDICT),
        # Degenerate sizes.
        Hostile("zero_bytes", b"", "selfie.jpg", "image/jpeg", 400, "empty_file", UNREADABLE),
        Hostile("one_pixel_jpeg", one_jpeg, "selfie.jpg", "image/jpeg", 202, None, NO_USABLE_FACE),
        Hostile("one_pixel_png", one_png, "selfie.png", "image/png", 202, None, NO_USABLE_FACE),
        # A valid photo under the wrong name and type: the bytes decide.
        Hostile("png_named_jpg", astronaut_png(), "selfie.jpg", "image/jpeg", 202, None, ANY_VERDICT),
        Hostile("bmp", bmp(), "selfie.jpg", "image/jpeg", 415, "unsupported_image_type", UNREADABLE),
    ]
    return tuple(entries)
