"""The fast loop's two tools: enrolment computed once per photo per session (for real), and the
`processes` marker found from what a test does, not from a list kept by hand."""

import subprocess
import sys

import numpy as np
import pytest

from biometrics import faces
from tests import images
from tests.conftest import ROOT, _starts_processes

MAX_PIXELS = 40_000_000


def test_a_cached_enrolment_is_the_real_one():
    photo = images.jpeg(images.astronaut())
    cached = faces.enrol(photo, max_pixels=MAX_PIXELS)
    fresh = faces.enrol.uncached(photo, max_pixels=MAX_PIXELS)
    assert fresh.outcome == cached.outcome == faces.Outcome.OK
    # Bit for bit: the jitter draws from a fixed seed, so caching changes no result.
    assert np.array_equal(cached.encoding, fresh.encoding)
    assert (cached.quality, cached.face_box, cached.phash) == (fresh.quality, fresh.face_box, fresh.phash)


def test_the_cache_is_per_photo_and_hands_out_copies():
    portrait = images.astronaut()
    one = faces.enrol(images.jpeg(portrait), max_pixels=MAX_PIXELS)
    other = faces.enrol(images.jpeg(portrait, quality=70), max_pixels=MAX_PIXELS)
    assert not np.array_equal(one.encoding, other.encoding)  # other bytes: computed on their own
    one.encoding[:] = 0
    one.quality.clear()
    again = faces.enrol(images.jpeg(portrait), max_pixels=MAX_PIXELS)
    assert np.linalg.norm(again.encoding) > 0 and again.quality


def _helper_that_starts_one():
    return subprocess.run([sys.executable, "-c", "pass"], check=True)


def _in_process_only():
    return sum(range(10))


def _uses_the_helper():
    _helper_that_starts_one()


def _calls_subprocess_itself():
    subprocess.run(["true"], check=False)


def test_the_processes_marker_follows_what_a_test_does():
    assert _starts_processes(_calls_subprocess_itself)
    assert _starts_processes(_uses_the_helper)
    assert not _starts_processes(_in_process_only)


@pytest.mark.processes
def test_fast_selection_leaves_out_workers_servers_browsers_and_subprocesses():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-m", "not processes", "tests/test_worker.py", "tests/test_settings.py",
         "tests/test_webapp_browser.py", "tests/test_api_processes.py", "tests/test_zone_data.py", "tests/test_beat.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    selected = [line for line in result.stdout.splitlines() if "::" in line]
    files = {line.split("::")[0] for line in selected}
    assert files == {"tests/test_settings.py", "tests/test_zone_data.py", "tests/test_beat.py"}, result.stdout[-2000:]
    # test_settings keeps its in-process test (the README table); its subprocess ones are out.
    assert [line for line in selected if "test_settings" in line] == [
        "tests/test_settings.py::test_every_setting_read_from_the_environment_is_in_the_readme_table"
    ]
    assert not [line for line in selected if "other_processes" in line]
