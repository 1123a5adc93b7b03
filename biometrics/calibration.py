"""The shipped decision thresholds, one per number of ready references, and how they are chosen.

`biometrics/calibration.json` holds them; settings read it (REPORTIN_FACE_CALIBRATION) and
`manage.py evaluate_matcher DIR --calibrate` writes it. A client's template is the mean of
their ready references; the more references, the steadier the template and the lower its
impostor distances run, so one threshold cannot hold the false match rate at every K: it is
chosen per K on attempts against galleries of exactly K references.

Impostor attempts share photos (one probe is compared with every other gallery, one gallery
with every other probe), so they are far from independent: intervals come from a bootstrap
over identities (resample people with replacement; an attempt counts as often as its probe's
identity times its gallery's identity were drawn), not from a binomial over pairs.
Plain Python and numpy; no Django.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_PATH = Path(__file__).resolve().parent / "calibration.json"
# The ceiling that matters (NIST SP 800-63B: a false match rate of at most 1 in 1,000).
TARGET_FMR = 0.001
# The shipped threshold is the bootstrap quantile at which the false match rate stays within
# the target in this share of resampled populations: a threshold read off the point estimate
# exceeds the target on a new population about half of the time, while 95% would cost a
# third more false non-matches at K=1 (docs/face-calibration.md weighs the choice).
CONFIDENCE = 0.75
BOOTSTRAP_ROUNDS = 400


class CalibrationError(ValueError):
    pass


@dataclass(frozen=True)
class Calibration:
    thresholds: dict[int, float]  # number of ready references -> threshold
    model_version: str
    pipeline_version: str
    target_fmr: float
    raw: dict


def load(path: Path = DEFAULT_PATH) -> Calibration:
    """Read and check a calibration file. Raises CalibrationError with what is wrong."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"cannot read the face calibration {path}: {exc}") from None
    try:
        thresholds = {int(k): float(v) for k, v in raw["thresholds"].items()}
    except (KeyError, AttributeError, TypeError, ValueError):
        raise CalibrationError(f"{path}: 'thresholds' must map numbers of references to distances") from None
    if 1 not in thresholds:
        raise CalibrationError(f"{path}: a threshold for one reference ('1') is required")
    if any(k < 1 or not 0.0 < t < 2.0 for k, t in thresholds.items()):
        raise CalibrationError(f"{path}: thresholds must be keyed by K >= 1 and lie between 0 and 2")
    return Calibration(
        thresholds=dict(sorted(thresholds.items())),
        model_version=str(raw.get("model_version", "")),
        pipeline_version=str(raw.get("pipeline_version", "")),
        target_fmr=float(raw.get("target_fmr", TARGET_FMR)),
        raw=raw,
    )


def save(path: Path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def threshold_for(thresholds: dict[int, float], references: int) -> float:
    """The threshold for a template of `references` ready references: that of the largest
    calibrated K not above it (more references than calibrated keep the last, stricter-or-equal
    value; none at all is K=1's)."""
    keys = [k for k in thresholds if k <= max(1, references)]
    return thresholds[max(keys)] if keys else thresholds[min(thresholds)]


def threshold_at(distances: np.ndarray, weights: np.ndarray | None, target: float) -> float:
    """The largest threshold (a midpoint between observed impostor distances) at which the
    weighted share of impostor distances at or below it is at most `target`."""
    order = np.argsort(distances, kind="stable")
    d = np.asarray(distances, dtype=np.float64)[order]
    w = np.ones_like(d) if weights is None else np.asarray(weights, dtype=np.float64)[order]
    total = w.sum()
    if total <= 0 or d.size == 0:
        return float("nan")
    share = np.cumsum(w) / total
    # index of the first impostor that would push the share over the target
    first_over = int(np.searchsorted(share, target, side="right"))
    if first_over >= d.size:
        return float(d[-1])
    below = d[first_over - 1] if first_over > 0 else d[0] - 0.01
    return float((below + d[first_over]) / 2)


def weighted_rate(values: np.ndarray, weights: np.ndarray) -> float:
    total = weights.sum()
    return float((values * weights).sum() / total) if total > 0 else float("nan")


@dataclass
class Attempts:
    """Scores of one K as parallel arrays. Genuine distances may be NaN (no score: the probe
    failed to acquire a face), which counts as a false non-match at every threshold."""

    genuine: np.ndarray
    genuine_identity: np.ndarray  # integer identity of each genuine attempt
    impostor: np.ndarray
    impostor_probe: np.ndarray  # identity of the probe
    impostor_gallery: np.ndarray  # identity of the gallery
    identities: int


def fnmr(genuine: np.ndarray, threshold: float, weights: np.ndarray | None = None) -> float:
    missed = ~(genuine <= threshold)  # NaN (no score) is a miss
    return weighted_rate(missed.astype(np.float64), np.ones_like(genuine) if weights is None else weights)


def fmr(impostor: np.ndarray, threshold: float, weights: np.ndarray | None = None) -> float:
    return weighted_rate((impostor <= threshold).astype(np.float64), np.ones_like(impostor) if weights is None else weights)


def choose(attempts: Attempts, *, target: float = TARGET_FMR, rounds: int = BOOTSTRAP_ROUNDS, confidence: float = CONFIDENCE, seed: int = 0,
           fixed: float | None = None, report_fmrs: tuple[float, ...] = (0.001, 0.0001)) -> dict:
    """The threshold for `target` FMR on these attempts, with bootstrap intervals over
    identities, and the rates at `fixed` (the threshold shipped so far) when given."""
    a = attempts
    rng = np.random.default_rng(seed)
    point = threshold_at(a.impostor, None, target)
    boot_t, boot_fnmr_at_t, boot_fmr_fixed, boot_fnmr_fixed = [], [], [], []
    for _ in range(rounds):
        counts = np.bincount(rng.integers(0, a.identities, a.identities), minlength=a.identities).astype(np.float64)
        wi = counts[a.impostor_probe] * counts[a.impostor_gallery]
        wg = counts[a.genuine_identity]
        t = threshold_at(a.impostor, wi, target)
        boot_t.append(t)
        boot_fnmr_at_t.append(fnmr(a.genuine, t, wg))
        if fixed is not None:
            boot_fmr_fixed.append(fmr(a.impostor, fixed, wi))
            boot_fnmr_fixed.append(fnmr(a.genuine, fixed, wg))
    boot_t = np.array(boot_t)
    shipped = float(np.floor(np.quantile(boot_t, 1 - confidence) * 1000) / 1000)
    tail = 0.025

    def interval(values) -> list[float]:
        return [round(float(np.quantile(values, tail)), 5), round(float(np.quantile(values, 1 - tail)), 5)]

    result = {
        "genuine": int(a.genuine.size),
        "impostor": int(a.impostor.size),
        "identities": int(a.identities),
        "no_score": int(np.isnan(a.genuine).sum()),
        "target_fmr": target,
        "threshold_at_target": round(point, 4),
        "threshold_at_target_ci95": interval(boot_t),
        "fnmr_at_target": round(fnmr(a.genuine, point), 5),
        "fnmr_at_target_ci95": interval(boot_fnmr_at_t),
        "threshold": shipped,
        "threshold_rule": f"{1 - confidence:.0%} bootstrap quantile of the threshold at FMR {target:.2%} ({rounds} resamples of identities)",
        "fmr_at_threshold": round(fmr(a.impostor, shipped), 6),
        "fnmr_at_threshold": round(fnmr(a.genuine, shipped), 5),
        "operating_points": {
            f"{f:g}": {"threshold": round(threshold_at(a.impostor, None, f), 4), "fnmr": round(fnmr(a.genuine, threshold_at(a.impostor, None, f)), 5)}
            for f in report_fmrs
        },
    }
    if fixed is not None:
        result["fixed"] = {
            "threshold": fixed,
            "fmr": round(fmr(a.impostor, fixed), 6),
            "fmr_ci95": interval(boot_fmr_fixed),
            "fnmr": round(fnmr(a.genuine, fixed), 5),
            "fnmr_ci95": interval(boot_fnmr_fixed),
        }
    return result
