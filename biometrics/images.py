"""Safe handling of untrusted image bytes: type sniffing, size and pixel caps read from the
header before any pixel is decoded, orientation, metadata stripping and reduced-scale decoding.

Nothing here imports Django: the API's intake, enrolment, the scoring worker and the
evaluation command all call these functions, so every path treats images the same way.
"""

import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

try:  # iPhones send HEIC; pillow-heif teaches Pillow to read it.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - pillow-heif is in requirements.txt
    HEIF_SUPPORTED = False

# Our own cap is checked from the header before decoding (see inspect()); Pillow's own
# bomb check stays on as a second line for any code path that forgets.
Image.MAX_IMAGE_PIXELS = 64_000_000
warnings.simplefilter("error", Image.DecompressionBombWarning)

ACCEPTED_FORMATS = ("jpeg", "png", "heif", "webp")
# PNGs are decoded whole (no reduced-scale decoding) and a photo stored as PNG above a few
# megapixels is larger than the upload cap: a bigger one is a flat picture compressed a
# thousandfold, a decompression bomb in all but name (36 MP from 120 KB). Lossless WEBP is
# the same kind of file (and decoded whole too), so the same cap applies to it.
PNG_MAX_PIXELS = 16_000_000
_WHOLE_DECODE_FORMATS = ("png", "webp")
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"avif"}
EXIF_ORIENTATION = 0x0112


class ImageRejected(Exception):
    """The bytes are not an image we accept. `code` is machine-readable, `message` is for people
    (English; callers that speak other languages translate by `code`, filling in `params`)."""

    def __init__(self, code: str, message: str, **params):
        self.code = code
        self.message = message
        self.params = params
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class ImageInfo:
    format: str  # jpeg, png, heif or webp
    width: int  # as stored in the file, before orientation
    height: int
    orientation: int  # EXIF orientation, 1 when absent

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) after the EXIF orientation is applied."""
        return (self.height, self.width) if self.orientation in (5, 6, 7, 8) else (self.width, self.height)


def sniff_format(data: bytes) -> str | None:
    """The format named by the file's magic bytes (never by its name or declared type)."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heif"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def inspect(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Check an upload from its header only: accepted type, sane and capped dimensions,
    complete JPEG structure, a single frame. Raises ImageRejected; decodes no pixels."""
    if not data:
        raise ImageRejected("empty_file", "The photo is empty.")
    kind = sniff_format(data)
    if kind is None:
        raise ImageRejected("not_an_image", "The file is not a photo (JPEG, PNG or HEIC).")
    if kind not in ACCEPTED_FORMATS or (kind == "heif" and not HEIF_SUPPORTED):
        raise ImageRejected(
            "unsupported_image_type", f"{kind.upper()} photos are not accepted; send a JPEG, PNG or HEIC photo.", format=kind.upper()
        )
    if kind == "jpeg":
        _check_jpeg_structure(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width < 1 or height < 1:
                raise ImageRejected("invalid_image", "The photo has no pixels.")
            cap = min(max_pixels, PNG_MAX_PIXELS) if kind in _WHOLE_DECODE_FORMATS else max_pixels
            if width * height > cap:
                raise ImageRejected(
                    "image_too_large",
                    f"The photo is {width}×{height} pixels; at most {cap // 1_000_000} megapixels are accepted.",
                    megapixels=cap // 1_000_000,
                )
            if getattr(image, "n_frames", 1) > 1:
                raise ImageRejected("animated_image", "Animated images are not accepted; send a single photo.")
            orientation = _orientation(image)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("image_too_large", "The photo has too many pixels.", megapixels=max_pixels // 1_000_000) from None
    except Exception:  # Pillow raises many types for malformed headers
        raise ImageRejected("invalid_image", "The photo could not be read; it may be damaged.") from None
    return ImageInfo(format=kind, width=width, height=height, orientation=orientation)


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _jpeg_segments(data: bytes):
    """Yield (marker, start, end) of each header segment up to and including SOS.
    Raises ImageRejected for a malformed structure."""
    pos = 2
    size = len(data)
    while True:
        # Markers may be preceded by fill bytes 0xFF.
        while pos < size and data[pos] == 0xFF and pos + 1 < size and data[pos + 1] == 0xFF:
            pos += 1
        if pos + 4 > size or data[pos] != 0xFF:
            raise ImageRejected("invalid_image", "The JPEG file is damaged (bad segment structure).")
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > size:
            raise ImageRejected("invalid_image", "The JPEG file is truncated.")
        yield marker, pos, end
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return
        pos = end


# A marker inside or after entropy-coded data: 0xFF followed by neither a stuffed zero, a
# restart marker nor another (fill) 0xFF.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SOS = 0xDA
_EOI = 0xD9
# libjpeg decodes every scan over the whole image, so a progressive file that repeats a tiny
# refinement scan thousands of times costs minutes of CPU from a few hundred kilobytes (issue
# 14.1). Cameras and libjpeg's progressive mode write about 10 scans (3 for a baseline file
# with one scan per component); three times that leaves room for any real encoder.
MAX_JPEG_SCANS = 32
# Metadata segments: APP1-APP13 and APP15 (EXIF incl. GPS, XMP, ICC, maker notes, Photoshop
# IRB) and comments. APP0 (JFIF) and APP14 (Adobe: how to read the colour channels) carry
# nothing about the person and are needed to decode the pixels right.
_METADATA_MARKERS = frozenset([*range(0xE1, 0xEE), 0xEF, 0xFE])


def _jpeg_after_header(data: bytes, scan_start: int) -> tuple[list[tuple[int, int, int]], int | None]:
    """The segments between and after the scans, from the first scan's data to the EOI marker
    that ends the image: ([(marker, start, end), ...], offset just past EOI), or None for the
    offset when the image is truncated. Walks the scans (a progressive JPEG has several, with
    tables and possibly APPn segments between them), so bytes appended after the image (a ZIP
    or HTML polyglot, padding) are never mistaken for part of it, whatever they contain.
    Raises ImageRejected past MAX_JPEG_SCANS scans: counting stops the walk early, so a scan
    bomb costs a fraction of a millisecond to refuse."""
    segments = []
    scans = 1  # the header walk ended at the first SOS
    pos = scan_start
    size = len(data)
    while True:
        found = _JPEG_MARKER.search(data, pos)
        if found is None:
            return segments, None
        pos = found.start()
        marker = data[pos + 1]
        if marker == _EOI:
            return segments, pos + 2
        if pos + 4 > size:
            return segments, None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return segments, None
        if marker == _SOS:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise ImageRejected(
                    "invalid_image", f"The JPEG file has more than {MAX_JPEG_SCANS} scans; no camera writes that many.", scans=scans
                )
        segments.append((marker, pos, pos + 2 + length))
        pos += 2 + length


def _jpeg_end(data: bytes, scan_start: int) -> int | None:
    return _jpeg_after_header(data, scan_start)[1]


def _jpeg_scan_start(data: bytes) -> int:
    saw_frame = False
    scan_start = len(data)
    for marker, _, end in _jpeg_segments(data):
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            saw_frame = True
        scan_start = end
    if not saw_frame:
        raise ImageRejected("invalid_image", "The JPEG file has no image frame.")
    return scan_start


def _check_jpeg_structure(data: bytes) -> None:
    # A complete JPEG ends with EOI after its scan data (phones may pad after it).
    if _jpeg_end(data, _jpeg_scan_start(data)) is None:
        raise ImageRejected("invalid_image", "The JPEG file is truncated.")


def _exif_orientation_only(orientation: int) -> bytes:
    """A TIFF/EXIF block holding nothing but the orientation tag (big-endian, one IFD entry)."""
    return b"MM\x00*" + struct.pack(">IHHHIHHI", 8, 1, EXIF_ORIENTATION, 3, 1, orientation, 0, 0)


def strip_jpeg_metadata(data: bytes, *, keep_orientation: int = 1) -> bytes:
    """The same JPEG without metadata segments (see _METADATA_MARKERS) wherever they are, in
    the header or between the scans of a progressive file, and without anything after its
    end-of-image marker (padding, or the other half of a polyglot file). Pixels are untouched
    (no decoding, no re-encoding). With `keep_orientation` other than 1, a new EXIF segment
    carries that orientation and nothing else, so whoever decodes the file later can turn it
    upright."""
    header = list(_jpeg_segments(data))
    scan_start = header[-1][2]
    tail, image_end = _jpeg_after_header(data, scan_start)
    if image_end is None:
        raise ImageRejected("invalid_image", "The JPEG file is truncated.")
    out = [data[:2]]
    last_end = 2
    if keep_orientation != 1:
        # After the JFIF segment when there is one: JFIF readers expect it first.
        if header and header[0][0] == 0xE0 and header[0][1] == 2:
            out.append(data[2 : header[0][2]])
            last_end = header[0][2]
        body = b"Exif\x00\x00" + _exif_orientation_only(keep_orientation)
        out.append(b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body)
    for marker, start, end in header + tail:
        if start < last_end:
            continue
        out.append(data[last_end:start])  # fill bytes, standalone markers, entropy-coded data
        if marker not in _METADATA_MARKERS:
            out.append(data[start:end])
        last_end = end
    out.append(data[last_end:image_end])
    return b"".join(out)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks a PNG needs to be shown as its author meant; everything else (tEXt, zTXt, iTXt,
# eXIf, tIME, private chunks) is metadata and goes.
_PNG_KEPT_CHUNKS = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs"})


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def strip_png_metadata(data: bytes, *, keep_orientation: int = 1) -> bytes:
    """The same PNG with only the chunks of _PNG_KEPT_CHUNKS, nothing after IEND, and (when
    `keep_orientation` is not 1) an eXIf chunk holding only the orientation. No decoding."""
    out = [_PNG_SIGNATURE]
    pos = len(_PNG_SIGNATURE)
    size = len(data)
    while True:
        if pos + 12 > size:
            raise ImageRejected("invalid_image", "The PNG file is truncated.")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > size:
            raise ImageRejected("invalid_image", "The PNG file is truncated.")
        if kind == b"IDAT" and keep_orientation != 1:
            out.append(_png_chunk(b"eXIf", _exif_orientation_only(keep_orientation)))
            keep_orientation = 1
        if kind in _PNG_KEPT_CHUNKS:
            out.append(data[pos:end])
        if kind == b"IEND":
            return b"".join(out)
        pos = end


def _boxes(data: bytes, start: int, end: int):
    """Yield (type, box start, payload start, box end) of the ISO-BMFF boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        payload = pos + 8
        if size == 1:
            if pos + 16 > end:
                raise ImageRejected("invalid_image", "The HEIC file is damaged (bad box structure).")
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            payload = pos + 16
        elif size == 0:
            size = end - pos
        if size < payload - pos or pos + size > end:
            raise ImageRejected("invalid_image", "The HEIC file is damaged (bad box structure).")
        yield kind, pos, payload, pos + size
        pos += size


def _uint(data: bytes, pos: int, size: int) -> int:
    return int.from_bytes(data[pos : pos + size], "big") if size else 0


def strip_heif_metadata(data: bytes) -> bytes:
    """The same HEIC with the payload of every metadata item (EXIF incl. GPS, XMP and any other
    MIME item) overwritten with zeros and the item's type renamed, so no reader finds it. Done
    in place, byte for byte the same length, so every offset in the file stays valid and the
    image is not decoded. Orientation in HEIC is a property of the image (irot/imir), not
    EXIF, and is kept."""
    out = bytearray(data)
    meta = next(((p, e) for kind, _, p, e in _boxes(data, 0, len(data)) if kind == b"meta"), None)
    if meta is None:
        raise ImageRejected("invalid_image", "The HEIC file has no metadata box.")
    inner = list(_boxes(data, meta[0] + 4, meta[1]))  # meta is a full box: version and flags first
    metadata_items: dict[int, int] = {}  # item id -> offset of its type code
    idat = next(((p, e) for kind, _, p, e in inner if kind == b"idat"), None)
    for kind, _, payload, end in inner:
        if kind != b"iinf":
            continue
        version = data[payload]
        first = payload + 4 + (2 if version == 0 else 4)
        for entry, _, entry_payload, _ in _boxes(data, first, end):
            entry_version = data[entry_payload]
            if entry != b"infe" or entry_version < 2:
                continue
            id_size = 2 if entry_version == 2 else 4
            item_id = _uint(data, entry_payload + 4, id_size)
            type_at = entry_payload + 4 + id_size + 2
            if data[type_at : type_at + 4] in (b"Exif", b"mime", b"uri "):
                metadata_items[item_id] = type_at
    for kind, _, payload, end in inner:
        if kind != b"iloc":
            continue
        version = data[payload]
        sizes = data[payload + 4 : payload + 6]
        offset_size, length_size, base_size = sizes[0] >> 4, sizes[0] & 15, sizes[1] >> 4
        index_size = sizes[1] & 15 if version in (1, 2) else 0
        pos = payload + 6
        count_size = 2 if version < 2 else 4
        count = _uint(data, pos, count_size)
        pos += count_size
        for _ in range(count):
            item_id = _uint(data, pos, count_size)
            pos += count_size
            method = 0
            if version in (1, 2):
                method = data[pos + 1] & 15
                pos += 2
            pos += 2  # data reference index
            base = _uint(data, pos, base_size)
            pos += base_size
            extents = _uint(data, pos, 2)
            pos += 2
            for _ in range(extents):
                pos += index_size
                offset = _uint(data, pos, offset_size)
                pos += offset_size
                length = _uint(data, pos, length_size)
                pos += length_size
                if pos > end:
                    raise ImageRejected("invalid_image", "The HEIC file is damaged (bad item locations).")
                if item_id not in metadata_items:
                    continue
                if method == 0:
                    start = base + offset
                elif method == 1 and idat is not None:
                    start = idat[0] + base + offset
                else:
                    continue
                stop = len(data) if length == 0 else start + length
                if start > len(data) or stop > len(data):
                    raise ImageRejected("invalid_image", "The HEIC file is truncated.")
                out[start:stop] = bytes(stop - start)
    for type_at in metadata_items.values():
        # An unknown item type is skipped by every reader; the zeroed payload stays unread.
        out[type_at : type_at + 4] = b"free"
    return bytes(out)


# WEBP chunks that carry metadata (EXIF with its GPS, XMP, an ICC profile that can carry text),
# and the VP8X flag bits that announce them.
_WEBP_METADATA_CHUNKS = {b"EXIF": 0x08, b"XMP ": 0x04, b"ICCP": 0x20}


def strip_webp_metadata(data: bytes) -> bytes:
    """A WEBP (RIFF chunks) without its metadata chunks, the VP8X header saying so. No
    decoding: the image chunks are copied as they are."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ImageRejected("invalid_image", "The WEBP file is damaged.")
    kept, position, dropped_flags = [], 12, 0
    while position + 8 <= len(data):
        fourcc = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        if position + 8 + size > len(data):
            raise ImageRejected("invalid_image", "The WEBP file is truncated.")
        end = min(position + 8 + size + (size & 1), len(data))  # chunks are padded to even sizes
        if fourcc in _WEBP_METADATA_CHUNKS:
            dropped_flags |= _WEBP_METADATA_CHUNKS[fourcc]
        else:
            kept.append(bytearray(data[position:end]))
        position = end
    for chunk in kept:
        if chunk[:4] == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~(dropped_flags | 0x2C) & 0xFF
    body = b"WEBP" + b"".join(bytes(chunk) for chunk in kept)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def strip_metadata(data: bytes, info: ImageInfo) -> bytes:
    """The bytes to store for an upload that passed inspect(): the same image without its
    metadata, orientation kept as the only tag. Cheap (no decoding): the web tier calls it;
    turning the picture upright and converting HEIC or PNG to JPEG is the worker's job
    (stored_copy), under the worker's time limit."""
    if info.format == "jpeg":
        return strip_jpeg_metadata(data, keep_orientation=info.orientation)
    if info.format == "png":
        return strip_png_metadata(data, keep_orientation=info.orientation)
    if info.format == "webp":
        # (A WEBP's orientation lives in its EXIF, which goes: phones send upright WEBPs.)
        return strip_webp_metadata(data)
    return strip_heif_metadata(data)


def is_upright_jpeg(data: bytes) -> bool:
    """Whether stored bytes are already the final form: a JPEG without an orientation to apply."""
    return sniff_format(data) == "jpeg" and _orientation_of(data) == 1


def _orientation_of(data: bytes) -> int:
    try:
        return _orientation(Image.open(io.BytesIO(data)))
    except Exception:
        return 1


def stored_copy(data: bytes, info: ImageInfo, *, quality: int = 92) -> bytes:
    """The copy we keep: upright (EXIF orientation applied) and without any metadata.

    An upright JPEG is kept byte-for-byte apart from its metadata segments, which is both
    fast and lossless; anything else is decoded once and saved as a clean JPEG. Raises
    ImageRejected when the pixels cannot be decoded (a truncated PNG passes the header check)."""
    if info.format == "jpeg" and info.orientation == 1:
        return strip_jpeg_metadata(data)
    try:
        image = to_rgb(ImageOps.exif_transpose(_open(data)))
    except Exception:  # Pillow raises many types for damaged pixel data
        raise ImageRejected("invalid_image", "The photo could not be decoded; it may be damaged.") from None
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=False)
    return buffer.getvalue()


def face_crop(data: bytes, box, *, turned_degrees: int = 0, margin: float = 0.5, long_side: int = 480, quality: int = 90) -> bytes:
    """A JPEG of the face in `box` (top, right, bottom, left in upright pixels, as the face
    analysis stores it; in the picture turned `turned_degrees` counter-clockwise when the face
    was only found so), with `margin` of the face's size around it (hair, ears, chin: what a
    person compares), at most `long_side` pixels. Raises ImageRejected when the pixels cannot
    be decoded."""
    try:
        image = to_rgb(ImageOps.exif_transpose(_open(data)))
    except Exception:  # Pillow raises many types for damaged pixel data
        raise ImageRejected("invalid_image", "The photo could not be decoded; it may be damaged.") from None
    if turned_degrees:
        image = image.rotate(turned_degrees, expand=True)
    top, right, bottom, left = box
    pad = round(max(bottom - top, right - left) * margin)
    area = (max(0, left - pad), max(0, top - pad), min(image.width, right + pad), min(image.height, bottom + pad))
    if area[2] <= area[0] or area[3] <= area[1]:
        area = (0, 0, image.width, image.height)  # a box outside the picture: the whole of it
    face = image.crop(area)
    face.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    face.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB of any mode, including 16-bit grayscale (scaled, not clipped) and CMYK."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.uint32)
        peak = 65535 if image.mode.startswith("I;16") or array.max() > 255 else 255
        image = Image.fromarray((array * 255 // peak).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


RESIZE_SLACK = 1.1


def decode(data: bytes, *, max_pixels: int, long_side: int | None = None) -> tuple[np.ndarray, ImageInfo, float]:
    """Decode untrusted bytes to an upright RGB array of about `long_side` pixels on its long
    side. JPEGs are decoded at a reduced scale by the decoder itself (DCT scaling) when that
    still leaves at least `long_side` pixels, which is far cheaper than decoding in full; the
    result is then resized down to `long_side` unless it is at most RESIZE_SLACK larger (a
    4032-pixel phone photo decodes at 1/4 to 1008 pixels: resizing that to 1000 would cost
    more than the scaled decode itself and change nothing that matters).

    Returns (array, info, scale) where scale = array pixels / original upright pixels."""
    info = inspect(data, max_pixels=max_pixels)
    try:
        image = Image.open(io.BytesIO(data))
        if long_side and info.format == "jpeg":
            # draft() picks the smallest 1/2, 1/4 or 1/8 scale that keeps both sides at least the
            # requested size, so ask for the long side and the proportional short side.
            ratio = long_side / max(info.width, info.height)
            image.draft("RGB", (max(1, int(info.width * ratio)), max(1, int(info.height * ratio))))
        image.load()
        image = to_rgb(ImageOps.exif_transpose(image))
    except ImageRejected:
        raise
    except Exception:
        raise ImageRejected("invalid_image", "The photo could not be decoded; it may be damaged.") from None
    upright_w, _ = info.upright_size
    if long_side and max(image.size) > long_side * RESIZE_SLACK:
        factor = long_side / max(image.size)
        image = image.resize(
            (max(1, round(image.width * factor)), max(1, round(image.height * factor))), Image.Resampling.BILINEAR
        )
    return np.asarray(image), info, image.width / upright_w


_DCT_SIZE = 32
# Rows of the DCT-II basis for a 32-sample signal; pHash keeps the 8x8 lowest frequencies.
_DCT = np.cos(np.pi * np.outer(np.arange(_DCT_SIZE), 2 * np.arange(_DCT_SIZE) + 1) / (2 * _DCT_SIZE))


def perceptual_hash(image: np.ndarray | Image.Image) -> str:
    """64-bit DCT perceptual hash (pHash) as 16 hex digits: the signs of the 8x8 lowest
    frequencies of a 32x32 grey thumbnail against their median. Re-encoded, resized or
    slightly brightened copies of a picture stay a few bits apart; different photos, even of
    the same person in the same place, differ by a dozen bits or more (measured in
    docs/face-calibration.md). More stable than a difference hash, which found two genuine
    photos of one person 6 bits apart."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    grey = np.asarray(image.convert("L").resize((_DCT_SIZE, _DCT_SIZE), Image.Resampling.BILINEAR), dtype=np.float64)
    low = (_DCT @ grey @ _DCT.T)[:8, :8].flatten()
    bits = low > np.median(low[1:])  # the DC term (overall brightness) does not set the median
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hash_distance(a: str, b: str) -> int:
    """Number of differing bits between two perceptual hashes."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")
