"""The face engine: find the main face in a photo, measure its quality, encode it, compare.

One code path for reference enrolment, the scoring worker and the evaluation command
(`manage.py evaluate_matcher`). Plain Python and numpy in, plain values out; no Django.

The pipeline, and why each step is the way it is:

1. Safe decode (biometrics.images.decode): pixel cap before decoding, EXIF orientation, JPEGs
   decoded by libjpeg at 1/2, 1/4 or 1/8 scale. DECODE_LONG_SIDE keeps enough pixels for the
   encoder: its input is a 150 px face chip, so any face of 150 px or more at this size is
   encoded at the model's native resolution, whatever the camera delivered.
2. Detection with dlib's HOG detector on a grey copy at most DETECT_LONG_SIDE pixels long.
   The detector sees faces of 80 px and up; when that could hide a rival face (or finds
   none), it runs again with one upsampling step (faces from 40 px). A photo with no face
   upright is tried turned by a quarter, three quarters and a half turn.
3. The main face is the most prominent one: largest and most central. Another face counts
   only if it is a clear detection and comparably prominent, so small faces in the
   background, or a weak false detection (the mission patch on the astronaut's suit), do not
   make a selfie ambiguous, while two people side by side do.
4. Landmarks with dlib's 5-point model (the 68-point model's licence is non-commercial and
   no feature here needs it) on the decoded image, then the aligned 150x150 chip that the
   encoder expects. Quality figures are measured on that chip, so they do not depend on the
   photo's size: sharpness, brightness, contrast; plus face size in original pixels, pose
   (yaw and roll from the eyes and nose) and centring. A gate turns bad figures into
   `low_quality` with a reason in plain words.
5. Encoding with dlib's ResNet (128 numbers): the mean of the encodings of the chip and of
   its mirror image, for references and selfies alike (see _encode).
6. `compare` measures the distance to every reference and decides on the distance to the
   client's template, the mean of the reference encodings, with the threshold calibrated
   for that number of references (biometrics/calibration.py).
"""

import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from biometrics import images

# Encodings are comparable only within one model version (references of another are skipped).
MODEL_VERSION = "dlib-resnet-v1/5pt"
PIPELINE_VERSION = "2.1"

DECODE_LONG_SIDE = 1000
DETECT_LONG_SIDE = 800
DETECTOR_MIN_FACE = 80  # px: the size of dlib's HOG window; smaller faces need upsampling
CHIP_SIZE = 150  # the encoder's input
CHIP_PADDING = 0.25
# A detection of at least this score is a clear face; weaker ones may be a face in an unusual
# pose or something face-like (a badge, a pattern). Rival faces must be clear.
CLEAR_FACE_SCORE = 0.5
# Another clear face at least this prominent relative to the main one makes a photo ambiguous.
COMPARABLE_PROMINENCE = 0.6


class Outcome:
    OK = "ok"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    LOW_QUALITY = "low_quality"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class QualityGate:
    min_face_px: int  # face width in the original photo (the detector's box)
    min_sharpness: float  # high-frequency share of the 150 px chip (see _quality)
    min_brightness: float  # mean grey level of the face, 0-255
    max_brightness: float
    min_contrast: float  # standard deviation of the face's grey levels
    max_yaw: float  # nose offset from the eyes' midpoint, in eye distances
    max_outside: float  # share of the face box outside the picture
    reference: bool = False  # words for the officer enrolling a photo, not for the person


# Limits calibrated on faces-calibration (400 people, 1,248 news photos of 250x250 pixels with
# faces of 62-155 px; docs/face-calibration.md, "Quality gates"): each one lies below every
# photo there that gave a usable encoding, because a refused genuine photo costs an
# officer's time just like a false non-match does, and a refused reference leaves a person
# with nothing to be compared with. Blur matters most: it drifts an encoding towards the
# average face, away from the client's and closer to everyone else's.
PROBE_GATE = QualityGate(
    min_face_px=48, min_sharpness=0.05, min_brightness=40.0, max_brightness=230.0, min_contrast=10.0, max_yaw=0.6, max_outside=0.25
)
# A reference is used for years: the same figures, a little stricter where it costs nothing
# (the face must be whole and lit), and no stricter where it refused usable news-style
# photos (a 74 px face, an ordinary soft 250x250 portrait).
REFERENCE_GATE = QualityGate(
    min_face_px=60, min_sharpness=0.06, min_brightness=50.0, max_brightness=220.0, min_contrast=12.0, max_yaw=0.6, max_outside=0.05,
    reference=True,
)


@dataclass
class Face:
    box: tuple[float, float, float, float]  # top, right, bottom, left in decoded-image pixels
    score: float
    prominence: float

    @property
    def width(self) -> float:
        return self.box[1] - self.box[3]


@dataclass
class Analysis:
    outcome: str
    message: str
    width: int = 0
    height: int = 0
    faces_found: int = 0
    face_box: list[int] | None = None  # top, right, bottom, left in upright original pixels
    quality: dict = field(default_factory=dict)
    encoding: np.ndarray | None = None
    phash: str = ""
    duration_ms: float = 0.0
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    matched: bool
    distance: float  # to the client's template: the decision is made on this
    distances: list[float]  # to each reference, for the record
    nearest: int  # index of the nearest reference


@dataclass(frozen=True)
class _Models:
    dlib: object
    detector: object
    landmarks: object
    encoder: object


@functools.cache
def models() -> _Models:
    """dlib's models, loaded on first use and kept for the life of the process (a worker
    process loads them once; the web process never does)."""
    import dlib
    import face_recognition_models

    return _Models(
        dlib=dlib,
        detector=dlib.get_frontal_face_detector(),
        landmarks=dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location()),
        encoder=dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location()),
    )


def analyse(
    data: bytes, *, max_pixels: int, gate: QualityGate = PROBE_GATE, full_size: bool = False,
    decode_long_side: int = DECODE_LONG_SIDE,
) -> Analysis:
    """Find, check and encode the main face of a photo. `full_size` skips every reduction
    (for comparing accuracy with full-resolution processing); production never sets it.
    `decode_long_side` may be smaller for pictures whose face fills much of the frame (the
    liveness frames: biometrics.liveness)."""
    laps = _Laps()
    try:
        array, info, scale = images.decode(data, max_pixels=max_pixels, long_side=None if full_size else decode_long_side)
    except images.ImageRejected as exc:
        return _finish(Analysis(Outcome.UNREADABLE, "", detail={"code": exc.code}), Outcome.UNREADABLE, exc.message, laps)
    width, height = info.upright_size
    result = Analysis(Outcome.OK, "", width=width, height=height, phash=images.perceptual_hash(array))
    laps("decode")
    detect_long_side = None if full_size else DETECT_LONG_SIDE
    faces, passes = _detect(array, long_side=detect_long_side)
    turned = 0
    if not faces:
        # Some phones and web uploads store the pixels turned without saying so in EXIF: look
        # at the other orientations, accepting only a clear face there (a turned background
        # invites false detections: a dog's head in one of the shared test photos).
        for quarter_turns in (3, 1, 2):  # counter-clockwise: 270 (the usual case), 90, 180 degrees
            candidate = np.ascontiguousarray(np.rot90(array, quarter_turns))
            found, more = _detect(candidate, long_side=detect_long_side)
            passes += more
            if any(f.score >= CLEAR_FACE_SCORE for f in found):
                array, faces, turned = candidate, found, 90 * quarter_turns
                break
    laps("detect")
    result.faces_found = len(faces)
    result.detail = {
        "decoded": [array.shape[1], array.shape[0]],
        "detector_passes": passes,
        "turned_degrees": turned,  # counter-clockwise; face_box is in the turned picture
        "faces": [{"box": _original_box(f.box, scale), "score": round(f.score, 2), "prominence": round(f.prominence, 1)} for f in faces],
    }
    if not faces:
        return _finish(result, Outcome.NO_FACE, "No face was found in the photo.", laps)
    clear = [f for f in faces if f.score >= CLEAR_FACE_SCORE] or faces
    main = max(clear, key=lambda f: f.prominence)
    rivals = [f for f in clear if f is not main and f.score >= CLEAR_FACE_SCORE and f.prominence >= COMPARABLE_PROMINENCE * main.prominence]
    result.face_box = _original_box(main.box, scale)
    if rivals:
        return _finish(result, Outcome.MULTIPLE_FACES, f"{len(rivals) + 1} faces of similar prominence are in the photo.", laps)

    m = models()
    top, right, bottom, left = main.box
    shape = m.landmarks(array, m.dlib.rectangle(round(left), round(top), round(right), round(bottom)))
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    chip = m.dlib.get_face_chip(array, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
    result.quality = _quality(chip, points, main, array.shape, scale)
    laps("align")
    problem = _gate(result.quality, gate)
    if problem:
        return _finish(result, Outcome.LOW_QUALITY, problem, laps)
    result.encoding = _encode(m, chip)
    laps("encode")
    return _finish(result, Outcome.OK, "", laps)


def _encode(m: _Models, chip: np.ndarray) -> np.ndarray:
    """The mean of the encodings of the chip and of its mirror image. A face is close to
    symmetric while light, a lock of hair or a slight turn are not: averaging the two halves'
    views cancels part of what belongs to the moment rather than to the person. Measured on
    faces-calibration (docs/face-calibration.md, "More from the encoder"): for selfies it
    lowers the FNMR at FMR 0.1%; for references it separated genuine from impostor attempts
    as well as the 16 jittered copies used before, at an eighth of the CPU, so references and
    selfies are encoded alike (two passes, batched)."""
    pair = [chip, np.ascontiguousarray(chip[:, ::-1])]
    return np.mean(np.asarray(m.encoder.compute_face_descriptor(pair), dtype=np.float64), axis=0)


def enrol(data: bytes, *, max_pixels: int, full_size: bool = False) -> Analysis:
    """Check and encode a reference photo: the reference gate (and its words for officers)."""
    return analyse(data, max_pixels=max_pixels, gate=REFERENCE_GATE, full_size=full_size)


class _Laps:
    """Milliseconds spent in each stage, for the record (FaceMatch.detail) and the benchmark."""

    def __init__(self):
        self.started = self.last = time.perf_counter()
        self.ms: dict[str, float] = {}

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = round((now - self.last) * 1000, 1)
        self.last = now


def _finish(result: Analysis, outcome: str, message: str, laps: _Laps) -> Analysis:
    result.outcome, result.message = outcome, message
    result.duration_ms = (time.perf_counter() - laps.started) * 1000
    result.detail["stage_ms"] = laps.ms
    return result


def _original_box(box, scale: float) -> list[int]:
    return [round(v / scale) for v in box]


def _detect(array: np.ndarray, *, long_side: int | None) -> tuple[list[Face], int]:
    """Faces in decoded-image coordinates, and how many detector passes it took."""
    grey = Image.fromarray(array).convert("L")
    k = 1.0
    if long_side and max(grey.size) > long_side:
        k = long_side / max(grey.size)
        grey = grey.resize((max(1, round(grey.width * k)), max(1, round(grey.height * k))), Image.Resampling.BILINEAR)
    pixels = np.asarray(grey)
    detector = models().detector
    rects, scores, _ = detector.run(pixels, 0, 0.0)
    passes = 1
    # Faces smaller than the detector's window are invisible without upsampling: look again
    # when nothing was found, or when a rival face (COMPARABLE_PROMINENCE of the main face's
    # size) could be smaller than the window.
    if not rects or max(r.width() for r in rects) < DETECTOR_MIN_FACE / COMPARABLE_PROMINENCE:
        rects, scores, _ = detector.run(pixels, 1, 0.0)
        passes = 2
    h, w = pixels.shape
    half_diagonal = math.hypot(w, h) / 2
    faces = []
    for rect, score in zip(rects, scores):
        cx, cy = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
        centrality = 1 - min(1.0, math.hypot(cx - w / 2, cy - h / 2) / half_diagonal)
        box = tuple(v / k for v in (rect.top(), rect.right(), rect.bottom(), rect.left()))
        faces.append(Face(box=box, score=float(score), prominence=rect.width() / k * centrality))
    return faces, passes


def _quality(chip: np.ndarray, points: np.ndarray, face: Face, shape: tuple, scale: float) -> dict:
    """Quality figures of the main face. Chip figures use its central part (the face itself,
    without the padding around it), so the background does not count."""
    margin = round(CHIP_SIZE * CHIP_PADDING / (1 + 2 * CHIP_PADDING))
    grey = chip[margin:-margin, margin:-margin].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    # dlib's 5-point model: 0-1 and 2-3 are the corners of each eye, 4 is below the nose.
    eye_a, eye_b, nose = points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]
    eyes = eye_b - eye_a
    eye_distance = float(np.hypot(*eyes)) or 1.0
    along = eyes / eye_distance
    yaw = float(np.dot(nose - (eye_a + eye_b) / 2, along) / eye_distance)
    roll = math.degrees(math.atan2(eyes[1], eyes[0]))
    roll = (roll + 90) % 180 - 90  # the eyes' line, whichever eye the model lists first
    height, width = shape[:2]
    eyes = sorted([eye_a, eye_b], key=lambda e: e[0])
    top, right, bottom, left = face.box
    box_area = max(1.0, (right - left) * (bottom - top))
    inside = max(0.0, min(right, width) - max(left, 0)) * max(0.0, min(bottom, height) - max(top, 0))
    return {
        "face_px": round(face.width / scale),
        "eye_distance_px": round(eye_distance / scale),
        "detector_score": round(face.score, 2),
        # High-frequency share: the Laplacian's spread relative to the face's contrast, so that
        # a dim or flat face is not mistaken for a blurred one.
        "sharpness": round(float(laplacian.std() / max(1.0, grey.std())), 3),
        "brightness": round(float(grey.mean()), 1),
        "contrast": round(float(grey.std()), 1),
        "yaw": round(yaw, 3),
        "roll_degrees": round(roll, 1),
        "centre_offset": [round((left + right) / 2 / width - 0.5, 3), round((top + bottom) / 2 / height - 0.5, 3)],
        "outside": round(1 - inside / box_area, 3),
        # Where the eyes are, as fractions of the picture's width and height: a re-sent copy
        # of a photo has them at the very same place, a new photo almost never does.
        "eyes": [[round(float(x) / width, 4), round(float(y) / height, 4)] for x, y in eyes],
    }


def _gate(quality: dict, gate: QualityGate) -> str:
    """The first reason the face is not good enough to compare, in plain words with the
    figure and the limit; "" if none. A selfie's words tell the person what to change; a
    reference photo's tell the officer why this photo cannot serve and what would."""
    q, ref = quality, gate.reference
    if q["face_px"] < gate.min_face_px:
        return (
            f"This photo cannot serve as a reference: the face is too small ({q['face_px']} pixels wide; at least {gate.min_face_px} are needed). "
            "Use a larger photo of the face (or one less reduced)."
            if ref else f"The face is too small ({q['face_px']} pixels wide; at least {gate.min_face_px} are needed). Take the photo closer."
        )
    if q["outside"] > gate.max_outside:
        return (
            f"This photo cannot serve as a reference: {q['outside']:.0%} of the face is outside the picture. Use a photo with the whole face."
            if ref else "Part of the face is outside the picture. Keep the whole face in the frame."
        )
    if q["brightness"] < gate.min_brightness:
        return (
            f"This photo cannot serve as a reference: the face is too dark (brightness {q['brightness']:.0f}; at least {gate.min_brightness:.0f}). Use a better lit photo."
            if ref else "The face is too dark. Take the photo in better light."
        )
    if q["brightness"] > gate.max_brightness:
        return (
            f"This photo cannot serve as a reference: the face is overexposed (brightness {q['brightness']:.0f}; at most {gate.max_brightness:.0f})."
            if ref else "The face is overexposed. Avoid direct light or the flash."
        )
    if q["contrast"] < gate.min_contrast:
        return (
            f"This photo cannot serve as a reference: the face has too little contrast ({q['contrast']:.0f}; at least {gate.min_contrast:.0f}), as through fog or glare."
            if ref else "The face has too little contrast (fog, glare or a very flat light)."
        )
    if q["sharpness"] < gate.min_sharpness:
        return (
            f"This photo cannot serve as a reference: the face is too blurred (sharpness {q['sharpness']:.3f}; at least {gate.min_sharpness:.3f}). Use a photo in focus."
            if ref else "The photo is too blurred. Hold the phone still and make sure it is in focus."
        )
    if abs(q["yaw"]) > gate.max_yaw:
        return (
            f"This photo cannot serve as a reference: the face is turned away (yaw {abs(q['yaw']):.2f}; at most {gate.max_yaw:.2f}). Use a photo facing the camera."
            if ref else "The face is turned away. Look straight at the camera."
        )
    return ""


def compare(encoding: np.ndarray, references: list[np.ndarray], *, threshold: float) -> Comparison:
    """Compare a probe with a client's references (at least one). The decision uses the
    distance to the client's template, the mean of the reference encodings: averaging
    several photos cancels much of what is particular to each (light, expression, camera),
    as the mirrored copy does within one photo, and separates genuine from impostor attempts better
    than the nearest single reference does (docs/face-calibration.md). With one reference
    the template is that reference."""
    stack = np.asarray(references, dtype=np.float64)
    distances = [float(d) for d in np.linalg.norm(stack - encoding, axis=1)]
    distance = float(np.linalg.norm(stack.mean(axis=0) - encoding))
    nearest = min(range(len(distances)), key=distances.__getitem__)
    return Comparison(matched=distance <= threshold, distance=distance, distances=distances, nearest=nearest)


def encoding_to_bytes(encoding: np.ndarray) -> bytes:
    return np.asarray(encoding, dtype="<f8").tobytes()


def encoding_from_bytes(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f8").copy()
