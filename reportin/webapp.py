"""The reference web app for phones, at /app/: its shell page, service worker, manifest and icons.

The app itself is plain ES modules, a style sheet and a strings file under
reportin/static/reportin/app/, served by WhiteNoise like any static file. Nothing is built or
fetched from elsewhere: the page may load scripts, styles and data from this site only."""

import functools
import hashlib
import io
import json
from pathlib import Path

from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from PIL import Image, ImageDraw

APP_STATIC = Path(__file__).resolve().parent / "static" / "reportin" / "app"
TEMPLATES = Path(__file__).resolve().parent / "templates" / "reportin"
ICON_SIZES = (180, 192, 512)
THEME_COLOUR = "#0b4f8a"

# Scripts, styles, images and API calls from this site only; no inline script or style, no
# frames, no plugins. Photos are previewed from blob: URLs made on the phone. Trusted Types
# make any HTML written from a string an error (the app builds its pages from DOM nodes); the
# one policy allowed, "reportin", vouches for the service worker's URL only (app.js).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types reportin",
])


def _app_headers(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    # The camera and the position for this site's own pages; nothing else.
    response["Permissions-Policy"] = "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()"
    # Always asked again: the service worker decides what is kept offline (see app-sw.js).
    response["Cache-Control"] = "no-cache"
    return response


def shell(request):
    """The one page of the app; the modules draw each screen into it."""
    return _app_headers(render(request, "reportin/app.html", {"icon_sizes": ICON_SIZES}))


def _assets() -> list[str]:
    """Everything the app needs to start without a network, for the service worker to keep."""
    files = sorted(path.name for path in APP_STATIC.iterdir() if path.is_file())
    return [
        reverse("api:webapp"),
        reverse("api:webapp-manifest"),
        *(reverse("api:webapp-icon", kwargs={"size": size}) for size in ICON_SIZES),
        *(static(f"reportin/app/{name}") for name in files),
    ]


def _version(assets: list[str]) -> str:
    """Changes whenever any file of the app changes, so that phones fetch the new app once."""
    digest = hashlib.sha256(json.dumps(assets).encode())
    for path in sorted([*APP_STATIC.iterdir(), *TEMPLATES.glob("app*"), Path(__file__)]):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def service_worker(request):
    """Served from /app/ (not /static/) so that its scope is the app's pages."""
    assets = _assets()
    config = json.dumps({"version": _version(assets), "assets": assets, "shell": reverse("api:webapp")})
    body = render_to_string("reportin/app-sw.js", {"config": config})
    return _app_headers(HttpResponse(body, content_type="text/javascript; charset=utf-8"))


def manifest(request):
    start = reverse("api:webapp")
    body = {
        "id": start,
        "name": "ReportIn",
        "short_name": "ReportIn",
        "description": "Report in with a photo and your location. / Présentez-vous avec une photo et votre position.",
        "start_url": start,
        "scope": start,
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME_COLOUR,
        "icons": [
            {"src": reverse("api:webapp-icon", kwargs={"size": size}), "sizes": f"{size}x{size}", "type": "image/png", "purpose": purpose}
            for size in ICON_SIZES[1:]
            for purpose in ("any", "maskable")
        ],
    }
    response = JsonResponse(body, content_type="application/manifest+json")
    response["Cache-Control"] = "no-cache"
    return response


@functools.cache
def icon_png(size: int) -> bytes:
    """The app's icon, drawn here: a white check mark in a face-shaped oval on the theme colour.
    Everything stays inside the middle 80 % (the safe zone of maskable icons)."""
    scale = 4  # drawn large and shrunk: smooth edges without anti-aliasing support in ImageDraw
    side = size * scale
    image = Image.new("RGB", (side, side), THEME_COLOUR)
    draw = ImageDraw.Draw(image)
    stroke = max(2, round(side * 0.045))
    draw.ellipse([side * 0.30, side * 0.18, side * 0.70, side * 0.82], outline="white", width=stroke)
    draw.line(
        [(side * 0.39, side * 0.51), (side * 0.47, side * 0.60), (side * 0.62, side * 0.41)],
        fill="white", width=stroke, joint="curve",
    )
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def icon(request, size: int):
    if size not in ICON_SIZES:
        raise Http404
    response = HttpResponse(icon_png(size), content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response
