"""python manage.py evaluate_matcher DIR [--references K] [--exclude NAME ...] [--json]
[--plot FILE.png] [--groups FILE.csv]

Runs the production face pipeline over a folder of <identity>/<image> files and reports
FNMR, FMR and FTA with 95% confidence intervals (biometrics/evaluation.py says how each is
counted). This is how the threshold was calibrated: docs/face-calibration.md."""

import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from biometrics import evaluation


class Command(BaseCommand):
    help = "Measure the face matcher (FNMR, FMR, FTA) on a folder of <identity>/<image> photos."

    def add_arguments(self, parser):
        parser.add_argument("dir", type=Path, help="a folder with one subfolder of photos per identity")
        parser.add_argument("--references", type=int, default=1, metavar="K", help="photos enrolled per identity (the first K by name; default 1)")
        parser.add_argument("--exclude", action="extend", nargs="+", default=[], metavar="NAME", help="subfolders to leave out")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
        parser.add_argument("--plot", type=Path, metavar="FILE.png", help="write the DET curve and the distance histograms")
        parser.add_argument("--groups", type=Path, metavar="FILE.csv", help="identity,group rows: adds FNMR and FMR per group")
        parser.add_argument("--threshold", type=float, help=f"decision threshold (default: REPORTIN_FACE_THRESHOLD, now {settings.REPORTIN_FACE_THRESHOLD})")
        parser.add_argument("--full-size", action="store_true", help="process at full resolution (no reduced decoding or detection size), for comparison")
        parser.add_argument("--all-pairs", action="store_true", help="enrol every photo on its own and compare it with every other (ignores --references), for calibration")

    def handle(self, *args, **options):
        root: Path = options["dir"]
        if not root.is_dir():
            raise CommandError(f"{root} is not a folder")
        if options["references"] < 1:
            raise CommandError("--references must be at least 1")
        groups = None
        if options["groups"]:
            if not options["groups"].is_file():
                raise CommandError(f"{options['groups']} is not a file")
            groups = evaluation.read_groups(options["groups"])
        threshold = settings.REPORTIN_FACE_THRESHOLD if options["threshold"] is None else options["threshold"]
        report, scores = evaluation.evaluate(
            root,
            references=options["references"],
            exclude=options["exclude"],
            threshold=threshold,
            max_pixels=settings.REPORTIN_IMAGE_MAX_PIXELS,
            full_size=options["full_size"],
            all_pairs=options["all_pairs"],
            progress=_progress_bar if sys.stderr.isatty() else None,
        )
        if groups is not None:
            report["groups"] = evaluation.by_group(scores, groups, threshold)
        if options["plot"]:
            evaluation.plot(scores, threshold, options["plot"])
            report["plot"] = str(options["plot"])
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self.stdout.write(_text(report))


def _progress_bar(done: int, total: int) -> None:
    width = 40
    filled = round(width * done / total) if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} images")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _ci(interval) -> str:
    return f"95% CI {interval[0]:.2%}-{interval[1]:.2%}"


def _text(r: dict) -> str:
    e = r["enrolment"]
    lines = [
        f"Face matcher evaluation of {r['dir']}" + (f" (excluding {', '.join(r['excluded'])})" if r["excluded"] else ""),
        f"  pipeline {r['pipeline_version']}, model {r['model_version']}{', FULL SIZE' if r['full_size'] else ''}; threshold {r['threshold']:.2f}",
        f"  identities {r['identities']}, "
        + ("every photo enrolled alone, compared with every other: " if r["all_pairs"] else f"references per identity K={r['references_per_identity']}: ")
        + f"{e['ready']}/{e['attempted']} enrolled"
        + (f" (failed: {', '.join(f['image'] + ' ' + f['outcome'] for f in e['failed'])})" if e["failed"] else ""),
        f"  FNMR {_pct(r['fnmr'])}  ({r['false_non_matches']}/{r['genuine']} genuine attempts, {_ci(r['fnmr_ci95'])})",
        f"  FMR  {_pct(r['fmr'])}  ({r['false_matches']}/{r['impostor']} impostor attempts, {_ci(r['fmr_ci95'])})",
        f"  FTA  {_pct(r['fta'])}  ({r['fta_count']}/{r['probes']} probes, {_ci(r['fta_ci95'])})",
        f"  ms per image: median {r['ms_per_image_median']}, p95 {r['ms_per_image_p95']} (references: median {r['ms_per_reference_median']})",
    ]
    st = r["score_statistics"]
    if st:
        lines.append(
            f"  distances: genuine {st['genuine_mean']:.3f} ± {st['genuine_sd']:.3f} (max {st['genuine_max']:.3f}), "
            f"impostor {st['impostor_mean']:.3f} ± {st['impostor_sd']:.3f} (min {st['impostor_min']:.3f}), d' {st['d_prime']}; "
            f"normal fit: FMR 0.1% at {st['normal_fit_threshold_fmr_0.1%']:.3f} (FNMR there {st['normal_fit_fnmr_at_that_threshold']:.2%})"
        )
    if r["fta_cases"]:
        lines.append("  failed to acquire:")
        lines += [f"    {c['image']}: {c['outcome']} ({c['message']})" for c in r["fta_cases"]]
    lines.append("  worst genuine attempts (largest distances):")
    lines += [f"    {a['probe']} vs {a['reference']}: {a['distance']:.3f}" for a in r["worst_genuine"]]
    lines.append("  worst impostor attempts (smallest distances):")
    lines += [f"    {a['probe']} vs {a['reference']}: {a['distance']:.3f}" for a in r["worst_impostor"]]
    lines.append("  threshold sweep (threshold: FNMR / FMR):")
    lines += [f"    {s['threshold']:.2f}: {_pct(s['fnmr'])} / {_pct(s['fmr'])}" for s in r["sweep"]]
    for name, g in r.get("groups", {}).items():
        lines.append(
            f"  group {name} ({g['identities']} identities): FNMR {_pct(g['fnmr']['rate'])} ({g['fnmr']['errors']}/{g['fnmr']['trials']}, {_ci(g['fnmr']['ci95'])}); "
            f"FMR {_pct(g['fmr']['rate'])} ({g['fmr']['errors']}/{g['fmr']['trials']}, {_ci(g['fmr']['ci95'])})"
        )
    if r.get("plot"):
        lines.append(f"  plot written to {r['plot']}")
    return "\n".join(lines) + "\n"
