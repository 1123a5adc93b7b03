"""Measuring liveness by challenge (manage.py evaluate_liveness), as ISO/IEC 30107-3 counts it:
APCER per attack type (the share of attack presentations accepted) and BPCER (the share of
bona fide presentations rejected), each with its 95% Wilson interval.

Bona fide sequences come from real photos of one person at different yaws (a folder of
<identity>/<image> files, e.g. ../shared/faces-calibration): the person's first photo is the
enrolled reference; of the others, the most frontal one answers "frontal" and the one turned
furthest from it answers the turn its yaw shows. The other turn is another photo turned the
other way when the person has one, else the mirror image of the turned photo (a head turned
the other way, as far as a near-symmetric face goes). A person counts when each turn is at least
BONA_FIDE_MIN_TURN (eye distances of yaw) from the frontal photo, mirror images included: a person
asked to turn the head turns it further than that, and photos that are not turned cannot show a
turn. The verifier asks less (biometrics.liveness: TURN_MIN_SIDE per side, TURN_MIN_SPAN between
the turns), so the pose check rarely rejects these; what BPCER measures here is whether the other
checks (frames distinct, none replayed) and the pose rules hold on real faces at real yaws.

Attacks, all made here from the same real photos (frames are re-encoded as a phone would, so
that no check can rely on identical bytes):
- repeated: the frontal photo sent for every pose;
- planar: the frontal photo as a flat print or screen, turned 20-45 degrees the way each turn
  asks and tilted up to 10 degrees (biometrics.liveness.flat_picture_turned);
- other_person: another person's bona fide sequence against this person's references;
- wrong_order: this person's bona fide frames with the turns swapped;
- previous_frames: this person's bona fide frames, seen by the system at an earlier check-in,
  sent again (re-encoded, arranged to the new challenge's order);
- reused_nonce is measured by the command against the real services (it is not about images).

Encodings and landmarks are cached by the image's sha256 (outside the repository): a second
run costs almost nothing.
"""

import hashlib
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from biometrics import evaluation, faces, liveness

BONA_FIDE_MIN_TURN = 0.2
ATTACK_TYPES = ("repeated", "planar", "other_person", "wrong_order", "previous_frames")
GOALS = {"repeated": 0.0, "reused_nonce": 0.0, "wrong_order": 0.0, "planar": 0.05, "bpcer": 0.05}


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class Cache:
    """Analyses by sha256 of the image bytes, in one JSON-lines file."""

    def __init__(self, path: Path | None):
        self.path = path
        self.rows: dict[str, dict] = {}
        if path and path.exists():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                self.rows[row["key"]] = row
        self.computed = 0

    def get(self, data: bytes, *, enrol: bool, max_pixels: int) -> liveness.Frame:
        key = ("enrol:" if enrol else "frame:") + faces.MODEL_VERSION + ":" + hashlib.sha256(data).hexdigest()
        row = self.rows.get(key)
        if row is None:
            analysis = faces.enrol(data, max_pixels=max_pixels) if enrol else liveness.analyse_frame(data, max_pixels=max_pixels)
            frame = liveness.Frame.of(analysis, sha256=hashlib.sha256(data).hexdigest())
            row = {
                "key": key, "outcome": frame.outcome, "message": frame.message, "yaw": frame.yaw, "phash": frame.phash,
                "eyes": frame.eyes, "sha256": frame.sha256, "face_px": frame.face_px,
                "encoding": None if frame.encoding is None else [float(v) for v in frame.encoding],
            }
            self.rows[key] = row
            self.computed += 1
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
        return liveness.Frame(
            outcome=row["outcome"], message=row["message"], yaw=row["yaw"], phash=row["phash"], eyes=row["eyes"], sha256=row["sha256"],
            face_px=row["face_px"], encoding=None if row["encoding"] is None else np.asarray(row["encoding"], dtype=np.float64),
        )


@dataclass
class Person:
    name: str
    reference: np.ndarray
    # pose -> (image, its figures): one picture per pose of the bona fide sequence
    pictures: dict


def _picture(path: Path) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(path)).convert("RGB")


def people(root: Path, cache: Cache, *, max_pixels: int, limit: int | None = None, progress=None) -> tuple[list[Person], dict]:
    """The people with a usable reference and photos at different yaws, and counts of the rest."""
    found, counts = [], {"identities": 0, "too_few_photos": 0, "reference_unusable": 0, "no_turned_photo": 0}
    folders = evaluation.identities(root, [])
    for index, (name, paths) in enumerate(folders.items()):
        if limit is not None and len(found) >= limit:
            break
        if progress:
            progress(index + 1, len(folders))
        counts["identities"] += 1
        if len(paths) < 3:
            counts["too_few_photos"] += 1
            continue
        candidates = []
        for path in paths[1:]:
            picture = _picture(path)
            frame = cache.get(jpeg(picture), enrol=False, max_pixels=max_pixels)
            if frame.outcome == faces.Outcome.OK:
                candidates.append((picture, frame))
        if len(candidates) < 2:
            counts["no_turned_photo"] += 1
            continue
        frontal = min(candidates, key=lambda c: abs(c[1].yaw))
        others = [c for c in candidates if c is not frontal]
        pictures = {liveness.FRONTAL: frontal}
        for pose in (liveness.LEFT, liveness.RIGHT):
            sign = liveness.expected_sign(pose)
            best = max(others, key=lambda c: (c[1].yaw - frontal[1].yaw) * sign)
            if (best[1].yaw - frontal[1].yaw) * sign >= BONA_FIDE_MIN_TURN:
                pictures[pose] = best
        if len(pictures) == 1:
            counts["no_turned_photo"] += 1
            continue
        # Enrolment (jittered) costs most: only for the people who can take part.
        reference = cache.get(jpeg(_picture(paths[0]), 95), enrol=True, max_pixels=max_pixels)
        if reference.encoding is None:
            counts["reference_unusable"] += 1
            continue
        for pose in (liveness.LEFT, liveness.RIGHT):
            if pose not in pictures:  # the mirror image of the photo turned the other way
                other = pictures[liveness.RIGHT if pose == liveness.LEFT else liveness.LEFT][0]
                mirrored = ImageOps.mirror(other)
                pictures[pose] = (mirrored, cache.get(jpeg(mirrored), enrol=False, max_pixels=max_pixels))
        # Turned both ways from this person's frontal photo: a mirror image is turned the other
        # way from the mirrored frontal pose, which is not this one when that was not central.
        if any(frame.yaw is None or (frame.yaw - frontal[1].yaw) * liveness.expected_sign(pose) < BONA_FIDE_MIN_TURN
               for pose, (_, frame) in pictures.items() if pose != liveness.FRONTAL):
            counts["no_turned_photo"] += 1
            continue
        found.append(Person(name=name, reference=reference.encoding, pictures=pictures))
    counts["eligible"] = len(found)
    return found, counts


def _frames(pictures: list[Image.Image], cache: Cache, *, max_pixels: int, quality: int = 90) -> list[liveness.Frame]:
    return [cache.get(jpeg(p, quality), enrol=False, max_pixels=max_pixels) for p in pictures]


def evaluate(found: list[Person], cache: Cache, *, threshold: float, max_pixels: int, seed: int = 20261207, planar: int = 1, progress=None) -> dict:
    """Run every bona fide sequence and every attack through biometrics.liveness.verify;
    `planar` flat-picture attacks per person, each at its own angles."""
    rng = random.Random(seed)
    outcomes = {kind: [] for kind in ("bona_fide", *ATTACK_TYPES)}
    failures = {kind: {} for kind in outcomes}

    def judge(kind, person, poses, frames, earlier=()):
        verdict = liveness.verify(poses=poses, frames=frames, references=[person.reference], threshold=threshold, earlier=list(earlier))
        outcomes[kind].append({"person": person.name, "passed": verdict.passed, "failures": verdict.failures})
        for code in verdict.failures:
            failures[kind][code] = failures[kind].get(code, 0) + 1
        return verdict

    for index, person in enumerate(found):
        if progress:
            progress(index + 1, len(found))
        # Three-pose challenges: each person has one picture per pose.
        poses = liveness.challenge_poses(rng)[:3]
        bona_fide = [person.pictures[pose] for pose in poses]
        judge("bona_fide", person, poses, [frame for _, frame in bona_fide])

        frontal_picture = person.pictures[liveness.FRONTAL][0]
        repeated = _frames([frontal_picture] * len(poses), cache, max_pixels=max_pixels)
        # Re-encoded at other qualities too: the same photo sent three times need not be the same bytes.
        repeated = [repeated[0], *_frames([frontal_picture], cache, max_pixels=max_pixels, quality=80), *_frames([frontal_picture], cache, max_pixels=max_pixels, quality=70)]
        judge("repeated", person, poses, repeated)

        for _ in range(planar):
            flat = []
            for pose in poses:
                if pose == liveness.FRONTAL:
                    flat.append(frontal_picture)
                    continue
                degrees = rng.uniform(20, 45) * -liveness.expected_sign(pose)
                flat.append(liveness.flat_picture_turned(frontal_picture, yaw_degrees=degrees, pitch_degrees=rng.uniform(-10, 10), distance=rng.uniform(1.2, 2.5)))
            judge("planar", person, poses, _frames(flat, cache, max_pixels=max_pixels))

        if len(found) > 1:
            other = found[(index + 1 + rng.randrange(len(found) - 1)) % len(found)]
            judge("other_person", person, poses, [other.pictures[pose][1] for pose in poses])

        swapped = [{liveness.LEFT: liveness.RIGHT, liveness.RIGHT: liveness.LEFT}.get(pose, pose) for pose in poses]
        judge("wrong_order", person, poses, [person.pictures[pose][1] for pose in swapped])

        earlier = [liveness.Capture("checkin_frame", i, frame.phash, frame.eyes) for i, (_, frame) in enumerate(bona_fide)]
        new_poses = liveness.challenge_poses(rng)[:3]
        resent = _frames([person.pictures[pose][0] for pose in new_poses], cache, max_pixels=max_pixels, quality=85)
        judge("previous_frames", person, new_poses, resent, earlier)

    pad = {"pose", "repeated_frame", "replayed_frame"}
    report = {
        # ISO/IEC 30107-3 counts the presentation attack detection alone: a bona fide sequence
        # it rejects. A frame that is not the person of the reference (the comparison's FNMR) or
        # shows no usable face (failure to acquire) is counted apart, in bpcer_all.
        "bpcer": evaluation.rate(sum(bool(pad & set(o["failures"])) for o in outcomes["bona_fide"]), len(outcomes["bona_fide"])),
        "bpcer_all": evaluation.rate(sum(not o["passed"] for o in outcomes["bona_fide"]), len(outcomes["bona_fide"])),
        "apcer": {kind: evaluation.rate(sum(o["passed"] for o in outcomes[kind]), len(outcomes[kind])) for kind in ATTACK_TYPES},
        "failure_codes": failures,
        "bona_fide_rejected": [o for o in outcomes["bona_fide"] if not o["passed"]],
    }
    return report
