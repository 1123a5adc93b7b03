"""Test images made from pictures that ship inside scikit-image (never from ../shared/faces)."""

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image

SHARED_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"


@functools.cache
def astronaut() -> Image.Image:
    """Eileen Collins' official portrait, head and shoulders (without the mission patch)."""
    from skimage import data

    return Image.fromarray(data.astronaut()[0:330, 60:420])


@functools.cache
def lfw_face(index: int, size: int = 300) -> Image.Image:
    """One of the LFW faces in scikit-image (25x25 crops), upscaled on a plain background."""
    from skimage import data

    face = (data.lfw_subset()[index] * 255).astype(np.uint8)
    face_img = Image.fromarray(face).resize((size, size), Image.Resampling.LANCZOS).convert("RGB")
    canvas = Image.new("RGB", (int(size * 1.6), int(size * 2)), (200, 200, 200))
    canvas.paste(face_img, (int(size * 0.3), int(size * 0.4)))
    return canvas


def astronaut_elsewhere(*, scale: float = 1.0, position: tuple[int, int] = (240, 40)) -> Image.Image:
    """A new picture of the astronaut, not a copy of an earlier one: her head and shoulders
    set into another scene (the coffee picture), framed differently. Same face, different
    photo, as a genuine new selfie would be."""
    head = astronaut()
    scene = scenery().copy()
    scene.paste(head.resize((round(head.width * scale), round(head.height * scale)), Image.Resampling.LANCZOS), position)
    return scene


def jpeg(image: Image.Image, *, quality: int = 90, **save_kwargs) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality, **save_kwargs)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def scenery() -> Image.Image:
    """A picture without any face (a coffee cup)."""
    from skimage import data

    return Image.fromarray(data.coffee())


@functools.cache
def selfie() -> bytes:
    """A selfie of the astronaut: the same face as her reference photo, another picture of it
    (a resized copy of the reference itself would be taken for a re-sent photo)."""
    return jpeg(astronaut_elsewhere(), quality=85)


def y4m(image: Image.Image, *, size: tuple[int, int] = (640, 480), height: float = 1.0, centre=(0.5, 0.5)) -> bytes:
    """A short uncompressed video of a still picture (YUV4MPEG2, 4:2:0), the format Chromium's
    fake camera plays in a loop: the picture `height` times the frame's height, its middle at
    `centre` (fractions of the frame), on a grey background."""
    width, frame_height = size
    frame = Image.new("RGB", size, (90, 90, 90))
    picture = image.convert("RGB")
    scale = height * frame_height / picture.height
    picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.LANCZOS)
    frame.paste(picture, (round(centre[0] * width - picture.width / 2), round(centre[1] * frame_height - picture.height / 2)))
    luma, blue, red = frame.convert("YCbCr").split()
    chroma = [plane.resize((width // 2, frame_height // 2), Image.Resampling.BILINEAR) for plane in (blue, red)]
    planes = luma.tobytes() + b"".join(plane.tobytes() for plane in chroma)
    header = f"YUV4MPEG2 W{width} H{frame_height} F30:1 Ip A1:1 C420jpeg\n".encode()
    return header + b"FRAME\n" + planes


def head_turned(image: Image.Image, *, amount: float) -> Image.Image:
    """The same picture with the nose and the middle of the face moved sideways against the
    eyes, as when a head turns (a flat picture cannot do that): by `amount` eye distances,
    to the right of the picture when positive (the person turning to their own left).
    A smooth local warp around the nose; the eyes and the rest of the picture stay put."""
    from scipy import ndimage

    from biometrics import faces

    analysis = faces.analyse(jpeg(image), max_pixels=40_000_000)
    (x1, y1), (x2, y2) = [(x * image.width, y * image.height) for x, y in analysis.quality["eyes"]]
    distance = x2 - x1
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2 + 0.6 * distance
    pixels = np.asarray(image.convert("RGB")).astype(np.float64)
    rows, columns = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]]
    shift = amount * distance * np.exp(-((columns - centre_x) ** 2 + (rows - centre_y) ** 2) / (2 * (0.45 * distance) ** 2))
    warped = np.stack(
        [ndimage.map_coordinates(pixels[..., c], [rows, columns - shift], order=1, mode="nearest") for c in range(3)], axis=-1
    )
    return Image.fromarray(warped.clip(0, 255).astype(np.uint8))
