"""Reference enrolment (enforcement.services.reference_photo_add): the same pipeline as a
check-in with a stricter gate and a jittered encoding, stored encrypted; rejections say why."""

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from biometrics import faces
from enforcement import crypto
from enforcement.errors import Conflict, DomainError
from enforcement.models import AuditEvent
from enforcement.services import MAX_REFERENCE_PHOTOS, reference_photo_add
from tests import factories, images

pytestmark = pytest.mark.django_db


def enrol(picture: Image.Image | bytes):
    client = factories.client()
    data = picture if isinstance(picture, bytes) else images.jpeg(picture)
    return reference_photo_add(client=client, data=data, uploaded_by=None)


def test_a_clear_portrait_becomes_a_ready_reference_with_an_encrypted_encoding():
    photo = enrol(images.astronaut())
    assert photo.status == "ready" and photo.rejection_code == ""
    assert bytes(photo.encoding)[:4] == crypto.BOUND_MAGIC  # sealed to its record (issue 14.7)
    encoding = faces.encoding_from_bytes(crypto.decrypt_for(photo, photo.encoding))
    assert encoding.shape == (128,) and np.isfinite(encoding).all()
    assert photo.model_version == faces.MODEL_VERSION
    assert len(photo.phash) == 16 and len(photo.face_box) == 4
    assert {"face_px", "sharpness", "brightness", "yaw", "eyes"} <= set(photo.quality)
    assert (photo.width, photo.height) == (360, 330)
    event = AuditEvent.objects.filter(action="reference_photo.add", object_id=str(photo.pk)).get()
    assert event.details["status"] == "ready"


def test_the_full_astronaut_picture_is_accepted_as_a_reference():
    from skimage import data

    assert enrol(Image.fromarray(data.astronaut())).status == "ready"


@pytest.mark.parametrize(
    ("picture", "code", "words"),
    [
        (images.scenery, "no_face", "No face was found"),
        (lambda: Image.fromarray(np.hstack([np.asarray(images.astronaut())] * 2)), "multiple_faces", "More than one face"),
        (lambda: images.astronaut().resize((200, 183), Image.Resampling.LANCZOS), "low_quality", "too small"),
        (lambda: ImageEnhance.Brightness(images.astronaut()).enhance(0.2), "low_quality", "too dark"),
        (lambda: images.astronaut().resize((1080, 990)).filter(ImageFilter.GaussianBlur(8)), "low_quality", "blurred"),
    ],
    ids=["no-face", "two-faces", "small-face", "dark", "blurred"],
)
def test_a_rejected_reference_photo_says_why_in_plain_words(picture, code, words):
    photo = enrol(picture())
    assert photo.status == "rejected" and photo.encoding is None
    assert photo.rejection_code == code
    assert words in photo.rejection_message, photo.rejection_message


def test_a_file_that_is_not_a_photo_is_refused_before_anything_is_stored():
    with pytest.raises(DomainError) as caught:
        enrol(b"GIF89a not really")
    assert caught.value.code == "unsupported_image_type"


def test_a_damaged_photo_with_a_sound_header_is_refused_in_words_and_nothing_is_stored():
    from enforcement.models import ReferencePhoto
    from tests.hostile_images import astronaut_png, truncated

    with pytest.raises(DomainError) as caught:
        enrol(truncated(astronaut_png()))
    assert caught.value.code == "invalid_image" and caught.value.fields["image"]
    assert not ReferencePhoto.objects.exists()


def test_at_most_five_reference_photos_per_client():
    client = factories.client()
    for _ in range(MAX_REFERENCE_PHOTOS):
        reference_photo_add(client=client, data=images.jpeg(images.astronaut()), uploaded_by=None)
    with pytest.raises(Conflict):
        reference_photo_add(client=client, data=images.jpeg(images.astronaut()), uploaded_by=None)
