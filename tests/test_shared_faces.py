"""The engine on the shared real photos (../shared/faces; skipped with a reason where absent).

Documents the outcome for every file in edge_cases/, multi/ and negatives/, and checks that
distinct photos of one person are never taken for a re-sent picture. Nothing derived from
these photos is written anywhere."""

import itertools

from django.conf import settings

from biometrics import evaluation, faces
from biometrics import images as imaging
from reportin.scoring import REPLAY_MAX_BITS

MAX_PIXELS = 40_000_000

# file: (outcome, identity whose first photo it is compared with when a face is usable)
EXPECTED = {
    "edge_cases/1.jpg": ("ok", "Barack_Obama"),  # 240p letterboxed: a 62 px face, still usable
    "edge_cases/2.jpg": ("ok", "Barack_Obama"),  # small image, 108 px face
    "edge_cases/3.jpg": ("ok", "Barack_Obama"),  # face cut by the left edge (23% of its box outside)
    "edge_cases/4.png": ("ok", "Barack_Obama"),  # RGBA 32-bit PNG
    "edge_cases/derived_blur.jpg": ("low_quality", None),  # blurred: "too blurred"
    "edge_cases/derived_dark.jpg": ("low_quality", None),  # brightness x0.15: "too dark"
    "edge_cases/derived_exif_orientation6.jpg": ("ok", "Joe_Biden"),  # EXIF orientation applied
    "edge_cases/derived_gray.jpg": ("ok", "Eric_Clapton"),  # 8-bit greyscale
    "edge_cases/derived_jpeg_q5.jpg": ("ok", "John_Lennon"),  # JPEG quality 5
    "edge_cases/derived_rotated90.jpg": ("ok", "Joe_Biden"),  # turned without EXIF: found turned
    "edge_cases/derived_tiny.jpg": ("low_quality", None),  # 36 px face: "too small"
    "multi/1.jpg": ("multiple_faces", None),
    "multi/2.jpg": ("multiple_faces", None),
    "multi/3.jpg": ("multiple_faces", None),
    "multi/4.jpg": ("multiple_faces", None),
    "multi/5.jpg": ("multiple_faces", None),  # a collage of 23 faces
    **{f"negatives/{name}": ("no_face", None) for name in ("1.jpg", "2.png", "3.png", "4.jpg", "5.png", "6.png", "7.png", "8.png")},
}


def stored(path) -> bytes:
    """The bytes the system would keep of this upload, as enrolment and intake do."""
    return evaluation._stored_form(path.read_bytes(), MAX_PIXELS)


def test_every_edge_case_multi_and_negative_file_has_its_documented_outcome(shared_faces):
    present = {str(p.relative_to(shared_faces)) for folder in ("edge_cases", "multi", "negatives") for p in (shared_faces / folder).iterdir()}
    assert present == set(EXPECTED), "a file was added or removed: document its outcome here"
    references = {}
    for name, (outcome, identity) in sorted(EXPECTED.items()):
        analysis = faces.analyse(stored(shared_faces / name), max_pixels=MAX_PIXELS)
        assert analysis.outcome == outcome, (name, analysis.message, analysis.quality)
        if identity:
            if identity not in references:
                first = sorted((shared_faces / identity).iterdir(), key=lambda p: p.name)[0]
                references[identity] = faces.enrol(stored(first), max_pixels=MAX_PIXELS).encoding
            comparison = faces.compare(analysis.encoding, [references[identity]], threshold=settings.REPORTIN_FACE_THRESHOLD)
            assert comparison.matched, (name, comparison.distance)
        else:
            assert analysis.encoding is None and analysis.message


def test_distinct_photos_of_one_person_are_never_taken_for_a_resent_picture(shared_faces):
    people = evaluation.identities(shared_faces, ["edge_cases", "multi", "negatives"])
    checked = 0
    for files in people.values():
        # The hash the pipeline records: of the picture as decoded for analysis.
        hashes = [imaging.perceptual_hash(imaging.decode(stored(path), max_pixels=MAX_PIXELS, long_side=faces.DECODE_LONG_SIDE)[0]) for path in files]
        for a, b in itertools.combinations(hashes, 2):
            assert imaging.hash_distance(a, b) > REPLAY_MAX_BITS
            checked += 1
    assert checked > 400
