"""What the activation slip carries besides the code: the web app's address, as text and as a
QR code (an inline SVG drawn here by segno: nothing fetched, nothing to run in the page)."""

import segno
from django.conf import settings
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe


def app_address(request) -> str:
    """REPORTIN_APP_URL when set (the address people reach from outside), else this site's /app/."""
    return settings.REPORTIN_APP_URL or request.build_absolute_uri(reverse("api:webapp"))


def qr_svg(text: str) -> SafeString:
    """A QR code of `text` as an SVG element, black on white, scalable, with its quiet zone."""
    code = segno.make(text, error="m", micro=False)
    return mark_safe(code.svg_inline(scale=4, dark="#000", light="#fff", title=text, svgclass="app-qr", lineclass=None))
