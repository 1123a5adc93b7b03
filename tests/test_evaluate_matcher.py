"""`manage.py evaluate_matcher`: counting rules, outputs, plot and groups, on a folder made at
test time from scikit-image's pictures; and the calibrated operating point on the shared
photos (skipped with a reason where they are absent)."""

import io
import json

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from biometrics import evaluation
from tests import images


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """astronaut: 4 photos (the first enrolled; then two new pictures and one without a face);
    three LFW faces with one photo each (impostor references only); and a folder to exclude."""
    root = tmp_path_factory.mktemp("faces")
    pictures = {
        "astronaut/1.jpg": images.astronaut(),
        "astronaut/2.jpg": images.astronaut_elsewhere(),
        "astronaut/3.jpg": images.astronaut_elsewhere(scale=0.9, position=(20, 60)),
        "astronaut/4.jpg": images.scenery(),
        "lfw1/1.jpg": images.lfw_face(1),
        "lfw2/1.jpg": images.lfw_face(2),
        "lfw3/1.jpg": images.lfw_face(3),
        "junk/1.jpg": images.scenery(),
    }
    for name, picture in pictures.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(images.jpeg(picture))
    (root / "groups.csv").write_text("identity,group\nastronaut,A\nlfw1,B\nlfw2,B\n")
    return root


def run(*args) -> str:
    out = io.StringIO()
    call_command("evaluate_matcher", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def test_json_report_counts_genuine_impostor_and_failed_acquisitions(folder, tmp_path):
    plot = tmp_path / "det.png"
    report = json.loads(run(folder, "--exclude", "junk", "--json", "--plot", plot, "--groups", folder / "groups.csv"))
    assert report["identities"] == 4 and report["excluded"] == ["junk"]
    assert report["references_per_identity"] == 1 and report["enrolment"]["ready"] == 4
    # 3 probes, all of the astronaut: 3 genuine attempts; the 2 acquired ones meet 3 impostors.
    assert (report["genuine"], report["impostor"], report["probes"]) == (3, 6, 3)
    assert report["fta_count"] == 1 and report["fta"] == pytest.approx(1 / 3)
    assert report["fta_cases"][0]["image"] == "astronaut/4.jpg" and report["fta_cases"][0]["outcome"] == "no_face"
    assert report["false_non_matches"] == 1 and report["fnmr"] == pytest.approx(1 / 3)  # the FTA counts here too
    assert report["false_matches"] == 0 and report["fmr"] == 0
    assert report["threshold"] == settings.REPORTIN_FACE_THRESHOLD and report["ms_per_image_median"] > 0
    low, high = report["fmr_ci95"]
    assert low == pytest.approx(0) and 0.3 < high < 0.5  # 0 of 6: Wilson's upper bound is about 39%
    assert len(report["worst_genuine"]) == 2 and report["worst_genuine"][0]["distance"] < settings.REPORTIN_FACE_THRESHOLD
    assert report["worst_impostor"][0]["distance"] > settings.REPORTIN_FACE_THRESHOLD
    assert {s["threshold"] for s in report["sweep"]} >= {0.4, 0.54, 0.65}
    assert report["groups"]["A"]["fnmr"]["trials"] == 3 and report["groups"]["A"]["fmr"]["trials"] == 6
    assert report["groups"]["B"]["fnmr"]["trials"] == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_more_references_leave_fewer_probes(folder):
    report = json.loads(run(folder, "--exclude", "junk", "--references", "2", "--json"))
    assert report["enrolment"]["attempted"] == 5 and (report["genuine"], report["fta_count"]) == (2, 1)


def test_all_pairs_enrols_every_photo_alone_and_compares_it_with_every_other(folder):
    report = json.loads(run(folder, "--exclude", "junk", "--all-pairs", "--json"))
    assert report["all_pairs"] and report["enrolment"]["attempted"] == 7 and report["probes"] == 7
    # 4 astronaut photos: 4 x 3 genuine attempts, 6 of them involve the photo without a face
    # (as probe or as reference) and count as misses; 6 acquired probes meet the other
    # identities' 5 or 3 enrolled photos.
    assert (report["genuine"], report["false_non_matches"]) == (12, 6)
    assert (report["impostor"], report["false_matches"]) == (24, 0)
    assert report["fta_count"] == 1


def test_the_text_report_names_the_rates_and_the_worst_cases(folder):
    text = run(folder, "--exclude", "junk")
    for words in ("FNMR", "FMR", "FTA", "genuine attempts", "impostor attempts", f"threshold {settings.REPORTIN_FACE_THRESHOLD:.3f}", "ms per image", "astronaut/4.jpg: no_face", "worst impostor"):
        assert words in text, words


def test_bad_arguments_are_refused(folder, tmp_path):
    with pytest.raises(CommandError):
        run(tmp_path / "missing")
    with pytest.raises(CommandError):
        run(folder, "--references", "0")


def test_wilson_interval():
    assert evaluation.wilson(0, 0) == (0.0, 1.0)
    low, high = evaluation.wilson(0, 2020)
    assert low == pytest.approx(0) and high == pytest.approx(0.0019, abs=1e-4)
    low, high = evaluation.wilson(3, 101)
    assert (round(low, 4), round(high, 4)) == (0.0102, 0.0837)


def test_the_calibrated_operating_point_on_the_shared_photos(shared_faces):
    """The figures written down in docs/face-calibration.md (K=1); a change to the pipeline
    that moves them must come with a new calibration."""
    report = json.loads(run(shared_faces, "--exclude", "multi", "negatives", "edge_cases", "--json"))
    assert (report["genuine"], report["impostor"]) == (101, 2020)
    assert report["enrolment"]["ready"] == 21 and report["fta_count"] == 0
    assert report["false_matches"] <= 1
    assert report["false_non_matches"] <= 2
