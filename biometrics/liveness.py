"""Liveness by challenge: is a sequence of frames a live head turning as it was asked to?

The phone fetched a random pose sequence (frontal, then turns to the left and right in a random
order) and filmed one frame per pose. A live head shows it: when a head turns, the nose tip
moves sideways between the eyes. A photo (printed, or on a screen) that is turned or tilted in
front of the camera does not: a flat picture keeps the nose where it is between the eyes,
however it is held, because foreshortening shrinks the eye distance and the nose's offset
alike. Yaw here is that offset: the nose tip's horizontal distance from the eyes' midpoint in
eye distances, from dlib's 5-point landmarks (biometrics.faces measures it for every face).

What is checked (`verify`), each failure named by a code:
- `frame_count`: one frame per pose asked.
- `frame_unusable`: every frame shows one usable face (no face, several, too blurred or dark).
- `identity`: every frame is the person of the references, and the frames agree with each other.
- `pose`: frontal frames look at the camera, turned frames are turned the way asked, by enough,
  relative to the person's own frontal pose, in the order asked.
- `repeated_frame`: no two frames are the same picture (a copy, re-encoded or not).
- `replayed_frame`: no frame is a copy of an earlier capture of the person (a previous
  check-in's frames or selfie, a reference photo).
The nonce (single use, 2 minutes) is checked by the service that stores the check-in.

Not a defence against: a video or live deepfake of the person turning their head, a 3D mask,
or a set of real photos of the person at the right yaws shown in the right order within the two
minutes (docs/liveness.md gives the measured rates and these limits). Plain Python, no Django.
"""

from dataclasses import dataclass, field

import numpy as np

from biometrics import faces, images

FRONTAL, LEFT, RIGHT = "frontal", "left", "right"
POSES = (FRONTAL, LEFT, RIGHT)
MIN_FRAMES, MAX_FRAMES = 3, 5

# A frontal frame: the nose at most this far (eye distances) from the eyes' midpoint.
FRONTAL_MAX_YAW = 0.2
# A turned frame: the nose on the side asked of where it was in the frontal frames, by at least
# TURN_MIN_SIDE; and between the turns to the left and to the right it must have moved across
# the face by TURN_MIN_SPAN. A real turn of 20-30 degrees moves it 0.25-0.45 eye distances each
# way; a flat photo turned by up to 45 degrees moves it less than 0.15 (docs/liveness.md).
TURN_MIN_SIDE = 0.05
TURN_MIN_SPAN = 0.3
# Frames of a turned head are further from the references than a frontal selfie is, so turned
# frames are compared with a looser limit; the frontal frames carry the face decision itself.
TURNED_THRESHOLD_MARGIN = 0.08
# Two frames of one check-in, or a frame and an earlier capture, are the same picture when
# their perceptual hashes and eye positions agree as closely as a re-sent copy's do
# (reportin.scoring's replay rule).
SAME_PICTURE_MAX_BITS = 8
SAME_PICTURE_MAX_EYE_SHIFT = 0.02
# Frames of a real face analysed with the probe gate, except for the pose limit: turns are asked for.
FRAME_GATE = faces.QualityGate(**{**faces.PROBE_GATE.__dict__, "max_yaw": 1.5})


def challenge_poses(rng) -> list[str]:
    """A random pose sequence: frontal first (that frame is the check-in's selfie), then both
    turns in a random order, and half of the time a fourth pose, so that the frames cannot be
    prepared before the sequence is known. `rng` is a random.Random (the service uses
    secrets.SystemRandom; the evaluation a seeded one)."""
    turns = [LEFT, RIGHT]
    rng.shuffle(turns)
    poses = [FRONTAL, *turns]
    if rng.random() < 0.5:
        poses.append(rng.choice([pose for pose in POSES if pose != poses[-1]]))
    return poses


def image_yaw(quality: dict) -> float:
    """The nose's offset from the eyes' midpoint in eye distances, positive towards the right
    of the picture. biometrics.faces measures it along the eye line from the eye dlib lists
    first (the one on the picture's right) to the other, hence the sign change."""
    return -float(quality["yaw"])


def expected_sign(pose: str) -> int:
    """Which way the nose moves in an unmirrored front-camera picture: a person turning to
    their own left shows the camera the nose pointing to the picture's right."""
    return {LEFT: 1, RIGHT: -1}.get(pose, 0)


@dataclass
class Frame:
    """The figures of one analysed frame."""

    outcome: str
    message: str = ""
    yaw: float | None = None
    encoding: np.ndarray | None = None
    phash: str = ""
    eyes: list | None = None
    sha256: str = ""
    face_px: int | None = None

    @classmethod
    def of(cls, analysis: faces.Analysis, *, sha256: str = "") -> "Frame":
        quality = analysis.quality or {}
        return cls(
            outcome=analysis.outcome,
            message=analysis.message,
            yaw=image_yaw(quality) if "yaw" in quality else None,
            encoding=analysis.encoding,
            phash=analysis.phash,
            eyes=quality.get("eyes"),
            sha256=sha256,
            face_px=quality.get("face_px"),
        )


@dataclass(frozen=True)
class Capture:
    """An earlier picture of the person (frame, selfie or reference) to detect a replay."""

    kind: str
    id: int
    phash: str
    eyes: list | None = None


@dataclass
class Verdict:
    passed: bool
    failures: list[str]  # codes, see the module's docstring
    messages: list[str]  # the same in plain words, for the officer
    figures: dict = field(default_factory=dict)


# Frames are decoded smaller than a selfie: the app films the face filling the oval (a third of
# the frame or more), so 640 pixels still give the encoder a face of 150 pixels or close, and a
# camera frame of 1280x960 decodes at half scale. This keeps a three-frame check-in within 2.5
# times the worker CPU of a single selfie (bench/liveness.py). The frontal frame, which is the
# selfie, is analysed at the selfie's size.
FRAME_DECODE_LONG_SIDE = 640


def analyse_frame(data: bytes, *, max_pixels: int) -> faces.Analysis:
    return faces.analyse(data, max_pixels=max_pixels, gate=FRAME_GATE, decode_long_side=FRAME_DECODE_LONG_SIDE)


def same_picture(a_hash: str, a_eyes, b_hash: str, b_eyes) -> bool:
    if not a_hash or not b_hash:
        return False
    if images.hash_distance(a_hash, b_hash) > SAME_PICTURE_MAX_BITS:
        return False
    if a_eyes and b_eyes:
        shift = max(abs(p - q) for eye_a, eye_b in zip(a_eyes, b_eyes) for p, q in zip(eye_a, eye_b))
        return shift <= SAME_PICTURE_MAX_EYE_SHIFT
    return True


def verify(
    *, poses: list[str], frames: list[Frame], references: list[np.ndarray], threshold: float, earlier: list[Capture] = ()
) -> Verdict:
    """Judge a challenge's frames against the poses asked, the person's reference encodings
    and earlier captures. Every check runs (an officer sees all that failed), in order."""
    failures: dict[str, list[str]] = {}

    def fail(code: str, message: str) -> None:
        failures.setdefault(code, []).append(message)

    template = np.mean(np.asarray(references, dtype=np.float64), axis=0) if len(references) else None
    rows = []
    for position, (pose, frame) in enumerate(zip(poses, frames)):
        row = {
            "position": position, "pose": pose, "outcome": frame.outcome, "yaw": _round(frame.yaw), "face_px": frame.face_px,
            # Kept so that a later check-in sending these frames again is caught (replayed_frame).
            "phash": frame.phash, "eyes": frame.eyes,
        }
        if frame.encoding is not None and template is not None:
            row["distance"] = round(float(np.linalg.norm(template - frame.encoding)), 4)
        rows.append(row)
    figures = {
        "poses": list(poses),
        "frames": rows,
        "thresholds": {
            "frontal_max_yaw": FRONTAL_MAX_YAW, "turn_min_side": TURN_MIN_SIDE, "turn_min_span": TURN_MIN_SPAN, "face": threshold,
            "turned_face": round(threshold + TURNED_THRESHOLD_MARGIN, 4),
        },
    }

    if len(frames) != len(poses):
        fail("frame_count", f"{len(frames)} frames were sent for a challenge of {len(poses)} poses.")
    usable = [(i, pose, frame) for i, (pose, frame) in enumerate(zip(poses, frames)) if frame.outcome == faces.Outcome.OK]
    for i, (pose, frame) in enumerate(zip(poses, frames)):
        if frame.outcome != faces.Outcome.OK:
            fail("frame_unusable", f"Frame {i + 1} ({pose}): {frame.message or frame.outcome}")

    # Identity: each frame against the references, and the frames against each other (a
    # frontal frame of the person followed by turns of somebody else fails here too).
    if template is None:
        fail("identity", "The person has no ready reference photo to compare the frames with.")
    else:
        for i, pose, _ in usable:
            limit = threshold if pose == FRONTAL else threshold + TURNED_THRESHOLD_MARGIN
            distance = rows[i]["distance"]
            if distance > limit:
                fail("identity", f"Frame {i + 1} ({pose}) is not the person of the reference photos (distance {distance:.3f} > {limit:.3f}).")
    for a in range(len(usable)):
        for b in range(a + 1, len(usable)):
            (i, _, fi), (j, _, fj) = usable[a], usable[b]
            gap = float(np.linalg.norm(fi.encoding - fj.encoding))
            if gap > threshold + 2 * TURNED_THRESHOLD_MARGIN:
                fail("identity", f"Frames {i + 1} and {j + 1} show different people (distance {gap:.3f}).")

    # Pose. Each turn on its side of the person's own frontal pose (nobody's nose is exactly
    # central, and a camera held a little to one side moves it too), and the nose swept from
    # one side to the other between the turns by TURN_MIN_SPAN: a flat picture, however it
    # is held, keeps it in place.
    frontal = [frame.yaw for _, pose, frame in usable if pose == FRONTAL]
    baseline = float(np.mean(frontal)) if frontal else 0.0
    figures["frontal_yaw"] = _round(baseline)
    sides = {LEFT: [], RIGHT: []}
    for i, pose, frame in usable:
        if pose == FRONTAL:
            if abs(frame.yaw) > FRONTAL_MAX_YAW:
                fail("pose", f"Frame {i + 1} should look straight at the camera but is turned (yaw {frame.yaw:+.2f}).")
            continue
        turn = (frame.yaw - baseline) * expected_sign(pose)
        rows[i]["turn"] = round(turn, 3)
        sides[pose].append(frame.yaw)
        if turn < TURN_MIN_SIDE:
            how = "the other way" if turn < -TURN_MIN_SIDE else "too little, or not at all (a flat picture cannot turn)"
            fail("pose", f"Frame {i + 1} should show a head turned to the {pose} but it is turned {how} (turn {turn:+.2f}).")
    if sides[LEFT] and sides[RIGHT]:
        span = min(sides[LEFT]) - max(sides[RIGHT])
        figures["turn_span"] = round(span, 3)
        if span < TURN_MIN_SPAN:
            fail(
                "pose",
                f"Between the turns to the left and to the right the nose moved {span:+.2f} eye distances across the face, "
                f"at least {TURN_MIN_SPAN:.2f} were needed: the head did not turn (a flat picture cannot).",
            )

    # Distinct pictures, and none seen before.
    for a in range(len(frames)):
        for b in range(a + 1, len(frames)):
            fa, fb = frames[a], frames[b]
            if (fa.sha256 and fa.sha256 == fb.sha256) or same_picture(fa.phash, fa.eyes, fb.phash, fb.eyes):
                fail("repeated_frame", f"Frames {a + 1} and {b + 1} are the same picture.")
    for i, frame in enumerate(frames):
        for capture in earlier:
            if same_picture(frame.phash, frame.eyes, capture.phash, capture.eyes):
                rows[i]["replay_of"] = {"kind": capture.kind, "id": capture.id}
                fail("replayed_frame", f"Frame {i + 1} is a copy of an earlier picture ({capture.kind} {capture.id}).")
                break

    figures["failures"] = sorted(failures)
    return Verdict(passed=not failures, failures=sorted(failures), messages=[m for code in sorted(failures) for m in failures[code]], figures=figures)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


# --- Presentation attacks, made at test time (manage.py evaluate_liveness, tests) -------------


def flat_picture_turned(image, *, yaw_degrees: float, pitch_degrees: float = 0.0, distance: float = 1.5):
    """What a camera sees of a flat picture (a print, a phone's screen) that fills the frame
    and is turned by `yaw_degrees` about its vertical axis and tilted by `pitch_degrees` about
    its horizontal one: a perspective warp (a pinhole camera, the picture `distance` of its
    widths away). `image` is a PIL image; so is the result, with grey where the picture ends."""
    from PIL import Image

    width, height = image.size
    focal = width * distance
    yaw, pitch = np.radians(yaw_degrees), np.radians(pitch_degrees)
    turn = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    corners = [(-width / 2, -height / 2), (width / 2, -height / 2), (width / 2, height / 2), (-width / 2, height / 2)]
    seen = []
    for x, y in corners:
        cx, cy, cz = turn @ tilt @ np.array([x, y, 0.0]) + np.array([0.0, 0.0, focal])
        seen.append((focal * cx / cz + width / 2, focal * cy / cz + height / 2))
    source = [(0, 0), (width, 0), (width, height), (0, height)]
    return image.transform(
        (width, height), Image.Transform.PERSPECTIVE, _perspective_coefficients(seen, source), Image.Resampling.BICUBIC, fillcolor=(128, 128, 128)
    )


def _perspective_coefficients(output_points, input_points) -> list[float]:
    """The 8 coefficients PIL's perspective transform takes: each output point (x, y) maps to
    the input point ((a x + b y + c) / (g x + h y + 1), (d x + e y + f) / (g x + h y + 1))."""
    rows, values = [], []
    for (x, y), (u, v) in zip(output_points, input_points):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values += [u, v]
    return [float(c) for c in np.linalg.solve(np.asarray(rows, dtype=np.float64), np.asarray(values, dtype=np.float64))]
