"""python manage.py evaluate_liveness [DIR] [--limit N] [--planar N] [--nonce-trials N] [--cache FILE] [--json]

Measures liveness by challenge as ISO/IEC 30107-3 counts it: APCER per attack type and BPCER,
each with its 95% interval (biometrics/liveness_evaluation.py says how each sequence and attack
is made). DIR defaults to ../shared/faces-calibration. Reused nonces are tried against the real
services (challenge_issue, checkin_submit) inside a transaction that is rolled back, with files
written to a temporary folder: nothing is kept. Prints a report and, last, one JSON line.

Run it with `nice -n 10`: the first run analyses a few thousand photos (cached afterwards in
--cache, outside the repository)."""

import json
import os
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from biometrics import evaluation, liveness
from biometrics import liveness_evaluation as measure
from enforcement import selectors as enforcement_selectors
from enforcement import services as enforcement_services
from enforcement.errors import DomainError
from enforcement.models import Region, Schedule
from reportin import services

DEFAULT_DIR = Path(settings.BASE_DIR).parent / "shared" / "faces-calibration"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reportin" / "evaluate_liveness.jsonl"
LIMITS = (
    "Not measured and not defended: a video or live deepfake of the person turning their head, a 3D mask, "
    "and real photos of the person at the right yaws shown in the order asked within the two minutes. "
    "Bona fide sequences are still photos at different yaws (a turn missing on one side is the mirror "
    "image of the other), not frames filmed by a phone during a challenge."
)


class Command(BaseCommand):
    help = "Measure liveness by challenge: APCER per attack type and BPCER (ISO/IEC 30107-3)."

    def add_arguments(self, parser):
        parser.add_argument("dir", type=Path, nargs="?", default=DEFAULT_DIR, help=f"<identity>/<image> photos (default {DEFAULT_DIR})")
        parser.add_argument("--limit", type=int, help="at most this many eligible people")
        parser.add_argument("--planar", type=int, default=4, help="planar-warp attacks per person, each at its own angles (default 4)")
        parser.add_argument("--nonce-trials", type=int, default=10, help="reused-nonce attempts against the real services (default 10)")
        parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"analysis cache (default {DEFAULT_CACHE})")
        parser.add_argument("--no-cache", action="store_true", help="analyse every photo again")
        parser.add_argument("--threshold", type=float, help=f"face threshold (default REPORTIN_FACE_THRESHOLD, now {settings.REPORTIN_FACE_THRESHOLD})")
        parser.add_argument("--seed", type=int, default=20261207)
        parser.add_argument("--json", action="store_true", help="print only the JSON line")

    def handle(self, *args, **options):
        root: Path = options["dir"]
        if not root.is_dir():
            raise CommandError(f"{root} is not a folder of <identity>/<image> photos")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if options["planar"] < 1:
            raise CommandError("--planar must be at least 1")
        if options["nonce_trials"] < 0:
            raise CommandError("--nonce-trials cannot be negative")
        threshold = settings.REPORTIN_FACE_THRESHOLD if options["threshold"] is None else options["threshold"]
        max_pixels = settings.REPORTIN_IMAGE_MAX_PIXELS
        cache = measure.Cache(None if options["no_cache"] else options["cache"])
        progress = _progress("people") if sys.stderr.isatty() else None
        found, counts = measure.people(root, cache, max_pixels=max_pixels, limit=options["limit"], progress=progress)
        if not found:
            raise CommandError(f"nobody in {root} has a usable reference and photos at different yaws")
        report = measure.evaluate(found, cache, threshold=threshold, max_pixels=max_pixels, seed=options["seed"], planar=options["planar"],
                                  progress=_progress("sequences") if sys.stderr.isatty() else None)
        reused = self._reused_nonces(found, cache, trials=min(options["nonce_trials"], len(found)), max_pixels=max_pixels)
        report["apcer"]["reused_nonce"] = evaluation.rate(reused, min(options["nonce_trials"], len(found)))
        report.update({
            "dir": str(root), "people": counts, "threshold": threshold, "analysed_now": cache.computed,
            "thresholds": {"frontal_max_yaw": liveness.FRONTAL_MAX_YAW, "turn_min_side": liveness.TURN_MIN_SIDE, "turn_min_span": liveness.TURN_MIN_SPAN,
                           "turned_threshold_margin": liveness.TURNED_THRESHOLD_MARGIN, "bona_fide_min_turn": measure.BONA_FIDE_MIN_TURN},
            "limits": LIMITS,
        })
        report["goals"] = {}
        for name, goal in measure.GOALS.items():
            measured = (report["bpcer"] if name == "bpcer" else report["apcer"][name])["rate"]
            report["goals"][name] = {"goal": goal, "met": None if measured is None else measured <= goal}  # None: not measured
        if not options["json"]:
            self._print(report)
        line = {
            "bpcer": report["bpcer"]["rate"], "bpcer_all": report["bpcer_all"]["rate"], "bona_fide": report["bpcer"]["trials"],
            "apcer": {kind: figures["rate"] for kind, figures in report["apcer"].items()},
            "attacks": {kind: figures["trials"] for kind, figures in report["apcer"].items()},
            "goals_met": all(goal["met"] is True for goal in report["goals"].values()),
            "failure_codes": report["failure_codes"], "people": counts, "threshold": threshold, "thresholds": report["thresholds"],
        }
        self.stdout.write(json.dumps(line))

    def _reused_nonces(self, found, cache, *, trials: int, max_pixels: int) -> int:
        """A challenge answered by one check-in, then sent again with another check-in: how
        many of the second ones the real service accepted."""
        accepted = 0
        now = timezone.now()
        with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media):
            for person in found[:trials]:
                with transaction.atomic():
                    device = _throwaway_device(now)
                    nonce, challenge = services.challenge_issue(device=device, now=now)
                    frames = [measure.jpeg(person.pictures[pose if pose in person.pictures else liveness.FRONTAL][0]) for pose in challenge.poses]
                    fields = dict(device=device, selfie=None, frames=frames, challenge_nonce=nonce, latitude=45.5, longitude=-73.6,
                                  accuracy_m=10, captured_at=now, now=now)
                    services.checkin_submit(idempotency_key="first", **fields)
                    try:
                        services.checkin_submit(idempotency_key="second", **fields)
                        accepted += 1
                    except DomainError as exc:
                        if exc.code != "challenge_used":
                            raise
                    transaction.set_rollback(True)  # nothing of the trial is kept
        return accepted

    def _print(self, report: dict) -> None:
        out = self.stdout
        people = report["people"]
        out.write(f"Liveness by challenge on {report['dir']}: {people['eligible']} people with photos at different yaws "
                  f"(of {people['identities']}: {people['too_few_photos']} with fewer than 3 photos, "
                  f"{people['reference_unusable']} without a usable reference, {people['no_turned_photo']} without a turned photo)")
        bpcer = report["bpcer"]
        out.write(f"  BPCER {_pct(bpcer)} of {bpcer['trials']} bona fide sequences (goal <= {measure.GOALS['bpcer']:.0%}): "
                  "rejected by the liveness checks (pose, repeated or replayed frame)")
        out.write(f"  BPCER, all causes {_pct(report['bpcer_all'])}: also counting a frame not matched with the reference "
                  "(the face comparison's FNMR) or without a usable face")
        for kind, figures in report["apcer"].items():
            goal = measure.GOALS.get(kind)
            out.write(f"  APCER {kind:16} {_pct(figures)} of {figures['trials']} attacks" + ("" if goal is None else f" (goal <= {goal:.0%})"))
        for kind, codes in report["failure_codes"].items():
            out.write(f"  {kind}: failed checks {codes}")
        out.write(f"  Limits: {report['limits']}")


def _pct(figures: dict) -> str:
    if figures["rate"] is None:
        return "not measured"
    low, high = figures["ci95"]
    return f"{figures['rate']:.1%} [{low:.1%}, {high:.1%}]"


def _throwaway_device(now):
    """A client with both consents and an activated phone, made through the real services."""
    client = enforcement_services.client_create(
        uci="9" + str(now.microsecond).zfill(8)[:8], given_name="Liveness", family_name="Evaluation", date_of_birth=date(1990, 1, 1),
        country_of_citizenship="CA", region=Region.objects.order_by("pk").first(), created_by=None,
    )
    versions = enforcement_selectors.consent_current_versions()
    for kind in ("app_use", "biometric"):
        enforcement_services.consent_record(client=client, kind=kind, decision="granted", text_version=versions[kind], language="en", channel="app")
    enforcement_services.condition_set(
        client=client, set_by=None, schedule=Schedule.EVERY_N_DAYS, interval_days=1, window_start=now.time().replace(microsecond=0),
        window_minutes=60, starts_on=(now + timedelta(days=400)).date(),
    )
    code, _ = enforcement_services.activation_code_issue(client=client, issued_by=None)
    _, device = services.device_activate(
        activation_code=code, uci=client.uci, date_of_birth=client.date_of_birth, device_name="evaluation", platform="web",
        client_address="127.0.0.1",
    )
    return device


def _progress(label: str):
    def show(done: int, total: int) -> None:
        sys.stderr.write(f"\r{label} {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
