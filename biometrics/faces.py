"""The face engine: find the main face in a photo, encode it, compare encodings.

One code path for enrolment, the scoring worker and the evaluation command. Plain Python
and numpy in, plain values out; no Django.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from biometrics import images

MODEL_VERSION = "dlib-resnet-v1/5pt"
PIPELINE_VERSION = "0.1"
WORKING_LONG_SIDE = 1024


class Outcome:
    OK = "ok"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    LOW_QUALITY = "low_quality"
    UNREADABLE = "unreadable"


@dataclass
class Analysis:
    outcome: str
    message: str
    width: int = 0
    height: int = 0
    faces_found: int = 0
    face_box: list[int] | None = None  # top, right, bottom, left in upright image pixels
    quality: dict = field(default_factory=dict)
    encoding: np.ndarray | None = None
    phash: str = ""
    duration_ms: float = 0.0


def _face_recognition():
    # Imported on first use: loading the models takes a moment and most processes
    # (web, beat) never need them.
    import face_recognition

    return face_recognition


def analyse(data: bytes, *, max_pixels: int, jitters: int = 0) -> Analysis:
    started = time.perf_counter()
    try:
        array, info, scale = images.decode(data, max_pixels=max_pixels, long_side=WORKING_LONG_SIDE)
    except images.ImageRejected as exc:
        return Analysis(Outcome.UNREADABLE, exc.message, duration_ms=(time.perf_counter() - started) * 1000)
    width, height = info.upright_size
    result = Analysis(Outcome.OK, "", width=width, height=height, phash=images.perceptual_hash(array))
    fr = _face_recognition()
    boxes = fr.face_locations(array, number_of_times_to_upsample=1, model="hog")
    result.faces_found = len(boxes)
    if not boxes:
        result.outcome, result.message = Outcome.NO_FACE, "No face was found in the photo."
    else:
        areas = [(bottom - top) * (right - left) for top, right, bottom, left in boxes]
        order = np.argsort(areas)[::-1]
        main = boxes[order[0]]
        # A second face at least half the size of the main one makes the photo ambiguous;
        # small faces in the background do not.
        if len(boxes) > 1 and areas[order[1]] >= 0.5 * areas[order[0]]:
            result.outcome, result.message = Outcome.MULTIPLE_FACES, "Several faces of similar size are in the photo."
        top, right, bottom, left = main
        result.face_box = [round(v / scale) for v in (top, right, bottom, left)]
        face_px = (bottom - top) / scale
        result.quality = {"face_px": round(face_px)}
        if result.outcome == Outcome.OK and face_px < 60:
            result.outcome, result.message = Outcome.LOW_QUALITY, "The face is too small to compare."
        if result.outcome == Outcome.OK:
            result.encoding = fr.face_encodings(array, [main], num_jitters=max(1, jitters), model="small")[0]
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


def distances(encoding: np.ndarray, references: list[np.ndarray]) -> list[float]:
    if not references:
        return []
    return [float(d) for d in np.linalg.norm(np.asarray(references) - encoding, axis=1)]


def encoding_to_bytes(encoding: np.ndarray) -> bytes:
    return np.asarray(encoding, dtype="<f8").tobytes()


def encoding_from_bytes(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f8").copy()
