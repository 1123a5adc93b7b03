"""Issue 14, items 1 and 2: no upload may cost the web tier a decode. Progressive-JPEG scan
bombs are refused from the marker walk; metadata goes wherever it hides (between progressive
scans, PNG text chunks, HEIC metadata items) without decoding; turning the picture upright and
converting HEIC or PNG to JPEG happen in the worker."""

import io
import time

import pillow_heif
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, PngImagePlugin

from biometrics import images as safe_images
from reportin import scoring
from reportin.models import CheckIn, FaceMatch
from tests import hostile_images, images
from tests.conftest import stored_files
from tests.test_hostile_images import _stored_as_is

pytestmark = pytest.mark.django_db


def _stored(checkin: CheckIn) -> bytes:
    checkin.refresh_from_db()
    with checkin.selfie.open("rb") as handle:
        return handle.read()


def test_a_progressive_scan_bomb_is_refused_in_the_request_without_decoding(reporter, media_root):
    # Orientation 6 is the path that made the web tier decode it (30.7 CPU-seconds before).
    bomb = hostile_images.progressive_scan_bomb(orientation=6)
    started = time.process_time()
    response = reporter.check_in(selfie=bomb)
    spent = time.process_time() - started
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "invalid_image"
    assert not CheckIn.objects.exists() and not stored_files(media_root)
    assert spent < 1.0, f"refusing the scan bomb took {spent:.2f} CPU-seconds"


def test_the_worker_refuses_a_stored_scan_bomb_at_once(reporter, media_root):
    # Stored past the API (a file from an older version): the worker reads the markers, too.
    checkin = _stored_as_is(reporter.device, hostile_images.progressive_scan_bomb(), "bomb")
    started = time.process_time()
    match = scoring.checkin_score(checkin_id=checkin.pk)
    assert time.process_time() - started < 2.0
    assert match.decision == "unreadable"


def test_a_real_progressive_jpeg_is_accepted():
    data = hostile_images.progressive_jpeg()
    assert len(hostile_images.jpeg_scans(data)) == 10  # what libjpeg writes
    assert safe_images.inspect(data, max_pixels=40_000_000).format == "jpeg"
    at_the_cap = data[: data.rindex(b"\xff\xd9")] + hostile_images.jpeg_scans(data)[-1] * (safe_images.MAX_JPEG_SCANS - 10) + b"\xff\xd9"
    safe_images.inspect(at_the_cap, max_pixels=40_000_000)
    with pytest.raises(safe_images.ImageRejected):
        safe_images.inspect(at_the_cap[:-2] + hostile_images.jpeg_scans(data)[-1] + b"\xff\xd9", max_pixels=40_000_000)


def test_metadata_between_progressive_scans_is_stripped_and_the_pixels_kept(reporter, media_root):
    upload = hostile_images.metadata_between_scans()
    response = reporter.check_in(selfie=upload)
    assert response.status_code == 202, response.content[:300]
    stored = _stored(CheckIn.objects.get(pk=response.json()["id"]))
    assert hostile_images.SECRET_NOTE not in stored and b"Exif" not in stored and b"xmpmeta" not in stored
    assert len(hostile_images.jpeg_scans(stored)) == 10
    assert Image.open(io.BytesIO(stored)).tobytes() == Image.open(io.BytesIO(upload)).tobytes()


def test_a_rotated_jpeg_is_stored_as_sent_minus_metadata_and_turned_by_the_worker(reporter, media_root):
    upload = images.jpeg(images.astronaut_elsewhere(), exif=hostile_images.gps_exif(orientation=8))
    response = reporter.check_in(selfie=upload)
    assert response.status_code == 202, response.content[:300]
    checkin = CheckIn.objects.get(pk=response.json()["id"])
    stored = _stored(checkin)
    # Not decoded nor re-encoded in the request: the entropy-coded data is the upload's.
    scan = hostile_images.jpeg_scans(upload)[0]
    assert scan in stored and stored.endswith(b"\xff\xd9")
    assert dict(Image.open(io.BytesIO(stored)).getexif()) == {0x0112: 8}  # GPS gone, orientation kept
    scoring.checkin_score(checkin_id=checkin.pk)
    upright = _stored(checkin)
    picture = Image.open(io.BytesIO(upright))
    assert picture.size == (checkin.selfie_width, checkin.selfie_height) == Image.open(io.BytesIO(upload)).size[::-1]
    assert not picture.getexif()
    assert FaceMatch.objects.get(checkin=checkin).faces_found == 1  # found upright, not by turning it


def _heic_with_metadata() -> bytes:
    heif = pillow_heif.from_pillow(images.astronaut())
    buffer = io.BytesIO()
    heif.save(buffer, quality=80, exif=hostile_images.gps_exif(), xmp=b"<x:xmpmeta>" + hostile_images.SECRET_NOTE + b"</x:xmpmeta>")
    return buffer.getvalue()


def test_heic_metadata_is_stripped_in_the_request_and_the_worker_makes_the_jpeg(reporter, media_root):
    upload = _heic_with_metadata()
    assert hostile_images.SECRET_NOTE in upload and Image.open(io.BytesIO(upload)).getexif().get(0x8825)
    response = reporter.check_in(selfie=upload)
    assert response.status_code == 202, response.content[:300]
    checkin = CheckIn.objects.get(pk=response.json()["id"])
    stored = _stored(checkin)
    assert safe_images.sniff_format(stored) == "heif" and len(stored) == len(upload)  # not decoded
    assert hostile_images.SECRET_NOTE not in stored
    opened = Image.open(io.BytesIO(stored))
    assert not opened.getexif() and not opened.info.get("xmp")
    size = Image.open(io.BytesIO(upload)).size
    assert opened.size == size
    scoring.checkin_score(checkin_id=checkin.pk)
    converted = _stored(checkin)
    assert converted[:3] == b"\xff\xd8\xff" and Image.open(io.BytesIO(converted)).size == size
    assert len(stored_files(media_root)) == 1


def test_png_text_chunks_are_stripped_in_the_request(reporter, media_root):
    text = PngImagePlugin.PngInfo()
    text.add_text("Location", hostile_images.SECRET_NOTE.decode())
    text.add_itxt("Comment", "GPS 43.65,-79.38", zip=True)
    buffer = io.BytesIO()
    images.astronaut_elsewhere().save(buffer, format="PNG", pnginfo=text, exif=hostile_images.gps_exif())
    upload = SimpleUploadedFile("selfie.png", buffer.getvalue(), "image/png")
    response = reporter.check_in(selfie=upload)
    assert response.status_code == 202, response.content[:300]
    stored = _stored(CheckIn.objects.get(pk=response.json()["id"]))
    picture = Image.open(io.BytesIO(stored))
    assert picture.format == "PNG" and not picture.text and not picture.getexif()
    assert hostile_images.SECRET_NOTE not in stored and b"iTXt" not in stored
    assert picture.tobytes() == Image.open(io.BytesIO(buffer.getvalue())).tobytes()


def test_webp_metadata_is_stripped_in_the_request(reporter, media_root):
    buffer = io.BytesIO()
    images.astronaut_elsewhere().save(buffer, format="WEBP", quality=90, exif=hostile_images.gps_exif(), xmp=hostile_images.SECRET_NOTE)
    upload = buffer.getvalue()
    assert hostile_images.SECRET_NOTE in upload and Image.open(io.BytesIO(upload)).getexif().get(0x8825)
    response = reporter.check_in(selfie=SimpleUploadedFile("selfie.webp", upload, "image/webp"))
    assert response.status_code == 202, response.content[:300]
    checkin = CheckIn.objects.get(pk=response.json()["id"])
    stored = _stored(checkin)
    assert hostile_images.SECRET_NOTE not in stored and b"EXIF" not in stored
    picture = Image.open(io.BytesIO(stored))
    assert picture.format == "WEBP" and not picture.getexif() and not picture.info.get("xmp")
    assert picture.tobytes() == Image.open(io.BytesIO(upload)).tobytes()  # the pixels as sent
    scoring.checkin_score(checkin_id=checkin.pk)
    assert _stored(checkin)[:3] == b"\xff\xd8\xff"  # the worker made the clean JPEG
