"""python manage.py evaluate_matcher DIR [--references K] [--exclude NAME ...] [--json]
[--plot FILE.png] [--groups FILE.csv]
python manage.py evaluate_matcher DIR --calibrate [--target-fmr 0.001] [--output FILE] [--json]

Runs the production face pipeline over a folder of <identity>/<image> files and reports
FNMR, FMR and FTA with 95% confidence intervals (biometrics/evaluation.py says how each is
counted), each attempt decided with the shipped threshold of its number of references.
With --calibrate it chooses those thresholds instead (per K, with bootstrap intervals over
identities) and writes them where settings read them (REPORTIN_FACE_CALIBRATION):
docs/face-calibration.md."""

import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from biometrics import calibration, evaluation


class Command(BaseCommand):
    help = "Measure the face matcher (FNMR, FMR, FTA) on a folder of <identity>/<image> photos."

    def add_arguments(self, parser):
        parser.add_argument("dir", type=Path, help="a folder with one subfolder of photos per identity")
        parser.add_argument("--references", type=int, default=1, metavar="K", help="photos enrolled per identity (the first K by name; default 1)")
        parser.add_argument("--exclude", action="extend", nargs="+", default=[], metavar="NAME", help="subfolders to leave out")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
        parser.add_argument("--plot", type=Path, metavar="FILE.png", help="write the DET curve and the distance histograms")
        parser.add_argument("--groups", type=Path, metavar="FILE.csv", help="identity,group rows: adds FNMR and FMR per group")
        parser.add_argument(
            "--threshold", type=float,
            help=f"one decision threshold for every gallery (default: the calibrated one per number of references, now {settings.REPORTIN_FACE_THRESHOLDS})",
        )
        parser.add_argument("--full-size", action="store_true", help="process at full resolution (no reduced decoding or detection size), for comparison")
        parser.add_argument("--all-pairs", action="store_true", help="enrol every photo on its own and compare it with every other (ignores --references), for calibration")
        parser.add_argument("--calibrate", action="store_true", help="choose the threshold for --target-fmr per number of references (1 to --max-references) and write it to --output")
        parser.add_argument("--target-fmr", type=float, default=calibration.TARGET_FMR, help="false match rate the calibrated thresholds aim at (default 0.001)")
        parser.add_argument("--max-references", type=int, default=3, metavar="K", help="calibrate K = 1 to this (default 3)")
        parser.add_argument("--bootstrap", type=int, default=calibration.BOOTSTRAP_ROUNDS, help="resamples of identities for the intervals")
        parser.add_argument(
            "--output", type=Path,
            help=f"calibration file to write (default: REPORTIN_FACE_CALIBRATION, now {settings.REPORTIN_FACE_CALIBRATION}); '-' writes nothing",
        )

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
        if options["calibrate"]:
            return self._calibrate(root, options)
        threshold = options["threshold"]
        if threshold is not None and not 0 < threshold < 2:
            raise CommandError("--threshold must lie between 0 and 2")
        report, scores = evaluation.evaluate(
            root,
            references=options["references"],
            exclude=options["exclude"],
            threshold=threshold,
            thresholds=settings.REPORTIN_FACE_THRESHOLDS,
            max_pixels=settings.REPORTIN_IMAGE_MAX_PIXELS,
            full_size=options["full_size"],
            all_pairs=options["all_pairs"],
            progress=_progress_bar if sys.stderr.isatty() else None,
        )
        if groups is not None:
            report["groups"] = evaluation.by_group(scores, groups, threshold)
        if options["plot"]:
            evaluation.plot(scores, report["threshold"], options["plot"])
            report["plot"] = str(options["plot"])
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self.stdout.write(_text(report))


    def _calibrate(self, root: Path, options: dict) -> None:
        if not 0 < options["target_fmr"] < 0.5:
            raise CommandError("--target-fmr must lie between 0 and 0.5")
        if not 1 <= options["max_references"] <= 10:
            raise CommandError("--max-references must lie between 1 and 10")
        if options["bootstrap"] < 20:
            raise CommandError("--bootstrap needs at least 20 resamples")
        result = evaluation.calibrate(
            root,
            exclude=options["exclude"],
            max_pixels=settings.REPORTIN_IMAGE_MAX_PIXELS,
            ks=tuple(range(1, options["max_references"] + 1)),
            target_fmr=options["target_fmr"],
            rounds=options["bootstrap"],
            fixed=settings.REPORTIN_FACE_THRESHOLDS,
            progress=_progress_bar if sys.stderr.isatty() else None,
        )
        if "1" not in result["thresholds"]:
            raise CommandError("no identity had a usable first photo: nothing to calibrate on")
        output = options["output"] or Path(settings.REPORTIN_FACE_CALIBRATION)
        if str(output) != "-":
            calibration.save(output, {
                "model_version": result["model_version"],
                "pipeline_version": result["pipeline_version"],
                "target_fmr": result["target_fmr"],
                "thresholds": result["thresholds"],
                "source": {"dir": Path(result["dir"]).name, "identities": result["identities"], "photos": result["photos"]},
                "per_k": result["per_k"],
            })
            result["written_to"] = str(output)
        self.stdout.write(json.dumps(result) if options["json"] else _calibration_text(result))


def _calibration_text(r: dict) -> str:
    lines = [
        f"Calibration on {r['dir']}: {r['identities']} identities, {r['photos']} photos; pipeline {r['pipeline_version']}, model {r['model_version']}",
        f"  target FMR {r['target_fmr']:.3%}; probes failing to acquire a face {r['fta']['failed']}/{r['fta']['probes']}; references refused {len(r['failed_references'])}",
    ]
    for k, c in r["per_k"].items():
        lines.append(
            f"  K={k}: {c['identities']} identities, {c['genuine']} genuine / {c['impostor']} impostor attempts; "
            f"threshold at target {c['threshold_at_target']:.4f} (95% CI {c['threshold_at_target_ci95'][0]:.4f}-{c['threshold_at_target_ci95'][1]:.4f}), "
            f"FNMR there {_pct(c['fnmr_at_target'])}"
        )
        lines.append(f"       chosen {c['threshold']:.3f} ({c['threshold_rule']}): FMR {c['fmr_at_threshold']:.4%}, FNMR {_pct(c['fnmr_at_threshold'])}")
        lines.append("       " + "; ".join(f"at FMR {float(f):.2%}: FNMR {_pct(p['fnmr'])} (threshold {p['threshold']:.4f})" for f, p in c["operating_points"].items()))
        if "fixed" in c:
            f = c["fixed"]
            lines.append(
                f"       shipped so far {f['threshold']:.3f}: FMR {f['fmr']:.4%} (95% CI {f['fmr_ci95'][0]:.4%}-{f['fmr_ci95'][1]:.4%}), "
                f"FNMR {_pct(f['fnmr'])} (95% CI {f['fnmr_ci95'][0]:.2%}-{f['fnmr_ci95'][1]:.2%})"
            )
    for failed in r["failed_references"]:
        lines.append(f"  reference refused: {failed['image']}: {failed['outcome']} ({failed['message']})")
    if r.get("written_to"):
        lines.append(f"  thresholds {r['thresholds']} written to {r['written_to']}")
    return "\n".join(lines) + "\n"


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
        f"  pipeline {r['pipeline_version']}, model {r['model_version']}{', FULL SIZE' if r['full_size'] else ''}; threshold {r['threshold']:.3f}"
        + (f" (per number of references: {', '.join(f'K={k} {v:.3f}' for k, v in r['thresholds'].items())})" if r.get("thresholds") else ""),
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
    if r.get("operating_points"):
        lines.append("  " + "; ".join(f"at FMR {float(f):.2%}: FNMR {_pct(p['fnmr'])} (threshold {p['threshold']:.4f}{'' if p['enough_impostors'] else ', too few impostor attempts to tell'})" for f, p in r["operating_points"].items()))
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
