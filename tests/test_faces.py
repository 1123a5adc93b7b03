"""The face engine (biometrics/faces.py) on pictures made at test time from scikit-image's."""

import io
import subprocess
import sys

import numpy as np
import pytest
from django.conf import settings
from PIL import Image, ImageEnhance, ImageFilter

from biometrics import faces
from biometrics import images as imaging
from reportin.scoring import REPLAY_MAX_BITS
from tests import images
from tests.conftest import ROOT

MAX_PIXELS = 40_000_000


def analyse(image: Image.Image | bytes, **kwargs) -> faces.Analysis:
    data = image if isinstance(image, bytes) else images.jpeg(image)
    return faces.analyse(data, max_pixels=MAX_PIXELS, **kwargs)


@pytest.fixture(scope="module")
def reference() -> faces.Analysis:
    return faces.enrol(images.jpeg(images.astronaut()), max_pixels=MAX_PIXELS)


def full_astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def side_by_side(left: Image.Image, right: Image.Image, *, right_scale: float = 1.0) -> Image.Image:
    right = right.resize((round(right.width * right_scale), round(right.height * right_scale)))
    canvas = Image.new("RGB", (left.width + right.width + 40, max(left.height, right.height) + 20), (180, 180, 180))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + 40, canvas.height - right.height))
    return canvas


def test_a_clear_portrait_is_found_measured_and_encoded(reference):
    analysis = analyse(images.astronaut())
    assert analysis.outcome == faces.Outcome.OK, analysis.message
    assert analysis.faces_found == 1
    assert analysis.encoding.shape == (128,)
    top, right, bottom, left = analysis.face_box
    assert 0 <= left < right <= 360 and 0 <= top < bottom <= 330
    assert set(analysis.quality) >= {"face_px", "sharpness", "brightness", "contrast", "yaw", "roll_degrees", "centre_offset", "outside"}
    assert 60 < analysis.quality["face_px"] < 150
    assert len(analysis.phash) == 16
    assert faces.compare(analysis.encoding, [reference.encoding], threshold=settings.REPORTIN_FACE_THRESHOLD).matched


def test_the_full_astronaut_picture_has_one_main_face_despite_the_mission_patch(reference):
    # The patch on her suit looks face-like to a HOG detector; it must not make the photo
    # ambiguous, neither at its own size nor blown up to a phone photo's.
    for picture in (full_astronaut(), full_astronaut().resize((3024, 3024), Image.Resampling.BICUBIC)):
        analysis = analyse(picture)
        assert analysis.outcome == faces.Outcome.OK, (analysis.message, analysis.detail)
        assert analysis.face_box[2] < picture.height * 0.4  # the face, in the upper part
        assert faces.compare(analysis.encoding, [reference.encoding], threshold=settings.REPORTIN_FACE_THRESHOLD).matched


def test_a_picture_without_a_face_is_no_face():
    analysis = analyse(images.scenery())
    assert analysis.outcome == faces.Outcome.NO_FACE
    assert analysis.faces_found == 0 and analysis.encoding is None


def test_two_comparable_faces_make_a_photo_ambiguous():
    analysis = analyse(side_by_side(images.astronaut(), images.astronaut().transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    assert analysis.outcome == faces.Outcome.MULTIPLE_FACES
    assert analysis.faces_found == 2 and analysis.encoding is None


def test_a_small_face_in_the_background_does_not(reference):
    analysis = analyse(side_by_side(images.astronaut(), images.lfw_face(1), right_scale=0.25))
    assert analysis.faces_found == 2
    assert analysis.outcome == faces.Outcome.OK, analysis.message
    assert analysis.face_box[1] < 360  # the astronaut, on the left, is the main face
    assert faces.compare(analysis.encoding, [reference.encoding], threshold=settings.REPORTIN_FACE_THRESHOLD).matched


def test_a_face_too_small_to_compare_is_low_quality():
    portrait = images.astronaut()
    analysis = analyse(portrait.resize((portrait.width // 2, portrait.height // 2), Image.Resampling.LANCZOS))
    assert analysis.outcome == faces.Outcome.LOW_QUALITY
    assert "too small" in analysis.message
    assert analysis.quality["face_px"] < faces.PROBE_GATE.min_face_px


def test_a_face_blurred_below_the_gate_is_low_quality():
    # HOG stops finding a face at about the blur where the sharpness figure bottoms out
    # (0.055 for this portrait), so the limit is exercised on the figures themselves.
    figures = {"face_px": 200, "outside": 0.0, "brightness": 120.0, "contrast": 40.0, "sharpness": 0.04, "yaw": 0.0}
    assert "blurred" in faces._gate(figures, faces.PROBE_GATE)
    assert "too blurred (sharpness 0.040; at least 0.060)" in faces._gate(figures, faces.REFERENCE_GATE)
    assert faces._gate({**figures, "sharpness": 0.07}, faces.PROBE_GATE) == ""


def test_a_soft_but_usable_face_is_compared_not_refused(reference):
    """Issue 15.2: the old gate (sharpness 0.075) refused this photo as blurred, yet its
    encoding is as close to the reference as a sharp selfie's."""
    portrait = images.astronaut()
    soft = portrait.resize((portrait.width * 3, portrait.height * 3)).filter(ImageFilter.GaussianBlur(8))
    analysis = analyse(soft)
    assert analysis.outcome == faces.Outcome.OK, analysis.message
    assert analysis.quality["sharpness"] < 0.075
    assert faces.compare(analysis.encoding, [reference.encoding], threshold=0.5).matched


def test_a_dark_face_is_low_quality():
    analysis = analyse(ImageEnhance.Brightness(images.astronaut()).enhance(0.15))
    assert analysis.outcome == faces.Outcome.LOW_QUALITY
    assert "dark" in analysis.message


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\xff\xd8\xff\xe0" + bytes(5000) + b"\xff\xd9", "corrupt-png"],
    ids=["empty", "text", "jpeg-without-a-frame", "png-with-damaged-pixels"],
)
def test_damaged_bytes_are_unreadable(data):
    if data == "corrupt-png":  # a valid header, zeros where the compressed pixels should be
        png = images.png(images.astronaut())
        start = png.index(b"IDAT") + 8
        data = png[:start] + bytes(200) + png[start + 200 :]
    analysis = analyse(data)
    assert analysis.outcome == faces.Outcome.UNREADABLE
    assert analysis.message


def test_exif_orientation_is_applied(reference):
    # As phones store portraits: pixels turned, EXIF saying how to turn them back.
    exif = Image.Exif()
    exif[imaging.EXIF_ORIENTATION] = 6
    stored = images.jpeg(images.astronaut().transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())
    analysis = analyse(stored)
    assert analysis.outcome == faces.Outcome.OK
    assert analysis.detail["turned_degrees"] == 0
    assert (analysis.width, analysis.height) == (360, 330)
    assert faces.compare(analysis.encoding, [reference.encoding], threshold=settings.REPORTIN_FACE_THRESHOLD).matched


def test_a_photo_turned_without_exif_is_tried_in_the_other_orientations(reference):
    analysis = analyse(images.astronaut().transpose(Image.Transpose.ROTATE_90))
    assert analysis.outcome == faces.Outcome.OK
    assert analysis.detail["turned_degrees"] == 270
    assert faces.compare(analysis.encoding, [reference.encoding], threshold=settings.REPORTIN_FACE_THRESHOLD).matched


def test_the_reduced_working_size_decides_like_full_size_processing(reference):
    phone = images.astronaut_elsewhere().resize((3024, 2016), Image.Resampling.BICUBIC)
    reduced, full = analyse(phone), analyse(phone, full_size=True)
    assert reduced.detail["decoded"][0] < 1100 and full.detail["decoded"][0] == 3024
    assert reduced.outcome == full.outcome == faces.Outcome.OK
    assert np.linalg.norm(reduced.encoding - full.encoding) < 0.1
    for analysis in (reduced, full):
        assert faces.compare(analysis.encoding, [reference.encoding], threshold=settings.REPORTIN_FACE_THRESHOLD).matched


def test_the_reference_gate_is_stricter_than_the_probe_gate():
    portrait = images.astronaut()
    small = portrait.resize((round(portrait.width * 0.56), round(portrait.height * 0.56)), Image.Resampling.LANCZOS)
    assert analyse(small).outcome == faces.Outcome.OK
    enrolled = faces.enrol(images.jpeg(small), max_pixels=MAX_PIXELS)
    assert enrolled.outcome == faces.Outcome.LOW_QUALITY
    assert f"at least {faces.REFERENCE_GATE.min_face_px}" in enrolled.message


def test_a_face_is_encoded_with_its_mirror_image(reference):
    """Issue 15.3: references and selfies are the mean of the encodings of the face and of
    its mirror image, so a mirrored photo encodes almost alike (one pass: 0.19 apart)."""
    flipped = analyse(images.astronaut().transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert np.linalg.norm(reference.encoding - flipped.encoding) < 0.12
    # Enrolment and a selfie of the same picture encode the same way.
    assert np.linalg.norm(reference.encoding - analyse(images.astronaut()).encoding) < 1e-9


def test_the_decision_is_made_on_the_mean_of_the_references():
    a, b = np.zeros(128), np.zeros(128)
    a[0], b[0] = 0.6, -0.6
    probe = np.zeros(128)
    comparison = faces.compare(probe, [a, b], threshold=0.5)
    assert comparison.distances == pytest.approx([0.6, 0.6])
    assert comparison.distance == pytest.approx(0.0) and comparison.matched
    assert not faces.compare(probe, [a], threshold=0.5).matched


def test_copies_of_a_picture_hash_alike_and_other_pictures_do_not():
    original = images.astronaut_elsewhere()
    base = imaging.perceptual_hash(original)
    copies = [
        Image.open(io.BytesIO(images.jpeg(original, quality=50))),
        original.resize((original.width // 2, original.height // 2)),
        ImageEnhance.Brightness(original).enhance(1.15),
    ]
    for copy in copies:
        assert imaging.hash_distance(base, imaging.perceptual_hash(copy)) <= REPLAY_MAX_BITS
    others = [images.astronaut(), images.astronaut_elsewhere(scale=0.9, position=(20, 60)), images.scenery(), images.lfw_face(1)]
    for other in others:
        assert imaging.hash_distance(base, imaging.perceptual_hash(other)) > REPLAY_MAX_BITS


def test_the_web_process_does_not_load_the_face_models():
    code = (
        "import django, sys; django.setup();"
        "from django.test import Client; import config.urls, reportin.services, reportin.tasks, enforcement.admin;"
        "Client().get('/healthz');"
        "print('dlib' in sys.modules, 'face_recognition' in sys.modules)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.test_settings", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"], result.stdout + result.stderr
