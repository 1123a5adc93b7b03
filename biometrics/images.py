"""Safe handling of untrusted image bytes: type sniffing, size and pixel caps read from the
header before any pixel is decoded, orientation, metadata stripping and reduced-scale decoding.

Nothing here imports Django: the API's intake, enrolment, the scoring worker and the
evaluation command all call these functions, so every path treats images the same way.
"""

import io
import re
import struct
import warnings
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


def _jpeg_end(data: bytes, scan_start: int) -> int | None:
    """The offset just past the EOI marker that ends the image, or None when the image is
    truncated. Walks the scans (a progressive JPEG has several, with tables between them),
    so bytes appended after the image (a ZIP or HTML polyglot, padding) are never mistaken
    for part of it, whatever they contain."""
    pos = scan_start
    size = len(data)
    while True:
        found = _JPEG_MARKER.search(data, pos)
        if found is None:
            return None
        pos = found.start()
        marker = data[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if pos + 4 > size:
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return None
        pos += 2 + length


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


def strip_jpeg_metadata(data: bytes) -> bytes:
    """The same JPEG without APP1-APP15 (EXIF incl. GPS, XMP, ICC, maker notes) and comment
    segments, and without anything after its end-of-image marker (padding, or the other half
    of a polyglot file). Pixels are untouched (no re-encoding)."""
    out = [data[:2]]
    last_end = 2
    for marker, start, end in _jpeg_segments(data):
        out.append(data[last_end:start])  # fill bytes / standalone markers between segments
        if not (0xE1 <= marker <= 0xEF or marker == 0xFE):
            out.append(data[start:end])
        last_end = end
    image_end = _jpeg_end(data, last_end)
    if image_end is None:
        raise ImageRejected("invalid_image", "The JPEG file is truncated.")
    out.append(data[last_end:image_end])
    return b"".join(out)


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
