"""Guided capture and the liveness challenge in the web app, in a real browser: headless Chromium
(Debian's package, driven by Playwright) whose fake front camera plays a video made here from
scikit-image's astronaut, against a live server.

- A dark picture and a blurred one: the app says what to change while the camera runs, and
  does not take such a photo without the person's say-so.
- A challenge completed: the app asks for a challenge, guides the person through each pose, and
  sends one frame per pose with the nonce; the camera plays the astronaut looking straight, then
  turning to her left, then to her right (tests/images.head_turned), and the worker's verdict
  on the frames the browser sent is a pass.
"""

import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections
from PIL import Image, ImageEnhance, ImageFilter

from biometrics import liveness
from reportin import scoring
from reportin.models import CheckIn, FaceMatch
from tests import factories, images
from tests.browser import CHROMIUM, require_chromium, screenshot_folder
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TORONTO = {"latitude": 43.6532, "longitude": -79.3832}
FRAME = (480, 360)
# Each pose plays for this many frames at 10 frames a second, marked by the colour of a square
# in the corner (the test waits for the pose it needs before pressing the button).
SEGMENT_FRAMES = 30
MARKERS = {"frontal": (255, 0, 0), "left": (0, 255, 0), "right": (0, 0, 255)}


def y4m(pictures: list[Image.Image], *, repeat: int = 1) -> bytes:
    """A YUV4MPEG2 video (what Chromium's fake camera plays, in a loop) of these pictures, each
    shown for `repeat` frames at 10 frames a second."""
    width, height = FRAME
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    body = b""
    for picture in pictures:
        luma, blue, red = picture.convert("YCbCr").split()
        chroma = [plane.resize((width // 2, height // 2), Image.Resampling.BILINEAR) for plane in (blue, red)]
        body += (b"FRAME\n" + luma.tobytes() + b"".join(plane.tobytes() for plane in chroma)) * repeat
    return header + body


def framed(picture: Image.Image, *, centre_x: float = 0.5, marker=None) -> Image.Image:
    frame = Image.new("RGB", FRAME, (90, 90, 90))
    scale = FRAME[1] / picture.height
    picture = picture.convert("RGB").resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.LANCZOS)
    frame.paste(picture, (round(centre_x * FRAME[0] - picture.width / 2), 0))
    if marker:
        frame.paste(Image.new("RGB", (40, 40), marker), (0, FRAME[1] - 40))
    return frame


@contextmanager
def phone(video: Path, tmp_path: Path, token: str, monkeypatch):
    require_chromium()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    problems = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{video.stem}"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--no-first-run",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
            viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, locale="en-CA",
            timezone_id="America/Toronto", geolocation={**TORONTO, "accuracy": 25}, permissions=["geolocation", "camera"],
        )
        context.set_default_timeout(60_000)  # a machine shared with other work may be slow
        # The phone is activated already (the activation screens are tested in test_webapp_browser).
        context.add_init_script(f"localStorage.setItem('reportin.token', JSON.stringify('{token}'))")
        page = context.pages[0] if context.pages else context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        try:
            yield page, problems
        finally:
            context.close()
            connections.close_all()


def open_check_in(page, live_server) -> None:
    """Home first, as a person does: the check-in screen needs /me (a cold start on a busy
    machine may draw the first screen before it arrives)."""
    page.goto(f"{live_server.url}/app/")
    page.locator('a[href="#/check-in"]').first.click()  # "Check in now", or "Send an extra check-in" outside a window


@pytest.fixture
def person(settings):
    settings.REPORTIN_LIVENESS_REQUIRED = True
    client = factories.client(given_name="Alex")
    factories.consent_both(client)
    factories.condition(client, starts_on=factories.LATER)
    factories.reference_photo(client)
    token, _ = factories.device(client, platform="web")
    return client, token


def test_the_preview_says_what_to_change_for_a_dark_or_blurred_picture(live_server, person, tmp_path, monkeypatch, capsys):
    client, token = person
    folder = screenshot_folder("webapp-liveness", "guided capture", capsys)
    cases = {
        "dark": (ImageEnhance.Brightness(images.astronaut()).enhance(0.2), "Too dark"),
        "blurred": (images.astronaut().filter(ImageFilter.GaussianBlur(5)), "Blurred"),
    }
    for name, (picture, advice) in cases.items():
        video = tmp_path / f"{name}.y4m"
        video.write_bytes(y4m([framed(picture)]))
        with phone(video, tmp_path, token, monkeypatch) as (page, problems):
            open_check_in(page, live_server)
            # The challenge has 3 or 4 poses (random).
            page.locator("#challenge-step").get_by_text(re.compile(r"Photo 1 of [34]:")).wait_for()
            page.locator("#preview-advice").get_by_text(advice).wait_for()
            take = page.get_by_role("button", name=re.compile(r"Take photo 1 of [34]"))
            take.click()
            # Not taken: the advice stays, the person may still choose to use it.
            page.get_by_role("button", name="Use this photo anyway").wait_for()
            assert page.locator("#challenge-step").get_by_text(re.compile(r"Photo 2 of [34]:")).count() == 0
            page.screenshot(path=folder / f"{name}.png", full_page=True)
            assert problems == []
    assert not CheckIn.objects.filter(client=client).exists()


def test_a_challenge_is_completed_in_the_browser_and_passes(live_server, person, tmp_path, monkeypatch, capsys):
    client, token = person
    folder = screenshot_folder("webapp-liveness", "liveness challenge", capsys)
    poses = ["frontal", "left", "right"]
    monkeypatch.setattr(liveness, "challenge_poses", lambda rng: list(poses))  # the order the video plays
    astronaut = images.astronaut()
    pictures = {
        "frontal": framed(astronaut, centre_x=0.5, marker=MARKERS["frontal"]),
        "left": framed(images.head_turned(astronaut, amount=0.5), centre_x=0.44, marker=MARKERS["left"]),
        "right": framed(images.head_turned(astronaut, amount=-0.6), centre_x=0.56, marker=MARKERS["right"]),
    }
    video = tmp_path / "challenge.y4m"
    video.write_bytes(y4m([pictures[pose] for pose in poses], repeat=SEGMENT_FRAMES))
    marker = """(colour) => {
        const video = document.querySelector('video');
        if (!video || !video.videoWidth) return false;
        const canvas = document.createElement('canvas');
        canvas.width = video.videoWidth; canvas.height = video.videoHeight;
        const context = canvas.getContext('2d');
        context.drawImage(video, 0, 0);
        const [r, g, b] = context.getImageData(20, video.videoHeight - 20, 1, 1).data;
        return Math.abs(r - colour[0]) < 60 && Math.abs(g - colour[1]) < 60 && Math.abs(b - colour[2]) < 60;
    }"""
    with phone(video, tmp_path, token, monkeypatch) as (page, problems):
        open_check_in(page, live_server)
        for n, pose in enumerate(poses, start=1):
            page.locator("#challenge-step").get_by_text(f"Photo {n} of 3:").wait_for()
            # Wait for the start of the pose's stretch of video, then take the photo at once.
            before = poses[n - 2] if n > 1 else poses[-1]
            page.wait_for_function(marker, arg=list(MARKERS[before]), polling=50)
            page.wait_for_function(marker, arg=list(MARKERS[pose]), polling=50)
            page.get_by_role("button", name=f"Take photo {n} of 3").click()
        page.get_by_role("img", name="Your photo for this check-in").wait_for()
        page.get_by_text("Location found").wait_for()
        page.screenshot(path=folder / "taken.png", full_page=True)
        page.get_by_role("button", name="Send check-in").click()
        page.get_by_text("Your check-in was sent").wait_for()
        page.screenshot(path=folder / "sent.png", full_page=True)
        assert problems == []

    checkin = CheckIn.objects.get(client=client)
    assert checkin.capture_mode == "challenge"
    assert list(checkin.liveness_frames.values_list("pose", flat=True)) == poses
    assert checkin.liveness_challenge.used_at is not None
    # Scored here, or by a worker of this test run that took the queued message first.
    match = scoring.checkin_score(checkin_id=checkin.pk) or wait_for(
        lambda: FaceMatch.objects.filter(checkin=checkin).first(), timeout=90, message="the check-in's verdict"
    )
    assert match.liveness["passed"] is True, match.liveness
    checkin.refresh_from_db()
    assert checkin.status == "verified"
