"""Reads a QR code drawn as segno's inline SVG: the path is drawn back into pixels (each "h"
a run of dark modules on one row) and decoded by zxing-cpp, an independent reader."""

import re

from PIL import Image, ImageDraw


def qr_decoded(svg: str) -> str:
    width = int(re.search(r'width="(\d+)"', svg).group(1))
    scale = int(re.search(r"scale\((\d+)\)", svg).group(1))
    path = re.search(r'<path stroke="[^"]+" d="([^"]+)"', svg).group(1)
    size, pixels = width // scale, 8
    image = Image.new("L", (size * pixels, size * pixels), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHhVv])([-0-9. ]+)", path):
        values = [float(value) for value in re.findall(r"-?[0-9.]+", numbers)]
        if command == "M":
            x, y = values
        elif command == "m":
            x, y = x + values[0], y + values[1]
        elif command == "h":
            row = int(y)  # the stroke runs along the middle of its row
            draw.rectangle([x * pixels, row * pixels, (x + values[0]) * pixels - 1, (row + 1) * pixels - 1], fill=0)
            x += values[0]
    import zxingcpp

    [found] = zxingcpp.read_barcodes(image)
    return found.text
