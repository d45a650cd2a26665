"""Draw the learnloop logo (icon.svg) as PNG app icons, with nothing but the standard library.

Run once after changing the logo and commit the PNGs: ``uv run python pwa/static/icons/make_icons.py``.

The logo lives on a 64×64 grid: a teal rounded square (rx 14) with two interlocking
three-quarter rings (radius 12, stroke 6, round caps), white below and mint above.
Shapes are drawn from signed distances, so edges are anti-aliased without supersampling.
"""

import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent

TEAL = (0x0F, 0x76, 0x6E)
WHITE = (0xFF, 0xFF, 0xFF)
MINT = (0x99, 0xF6, 0xE4)

# (centre x, centre y, start angle, sweep) in logo units and degrees, y pointing down (as in SVG)
WHITE_RING = (32.0, 40.0, 180.0, 270.0)  # "M20 40a12 12 0 1 1 12 12"
MINT_RING = (32.0, 24.0, 0.0, 270.0)  # "M44 24a12 12 0 1 1-12-12"
RING_RADIUS = 12.0
STROKE = 6.0
# every painted stroke lies within this distance of the logo's centre (32, 32): 8 + 12 + 3
LOGO_REACH = 23.0

Distance = Callable[[float, float], float]


def rounded_square(size: float, radius: float) -> Distance:
    """Signed distance to a square [0, size]² with rounded corners (negative inside)."""
    half = size / 2

    def distance(x: float, y: float) -> float:
        qx = abs(x - half) - (half - radius)
        qy = abs(y - half) - (half - radius)
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        return outside + min(max(qx, qy), 0.0) - radius

    return distance


def everywhere() -> Distance:
    return lambda x, y: -1e9


def ring_arc(cx: float, cy: float, start: float, sweep: float, radius: float) -> Distance:
    """Signed distance to an arc stroked with round caps (the stroke width is applied later)."""
    a0 = math.radians(start)
    a1 = math.radians(start + sweep)
    ends = [(cx + radius * math.cos(a), cy + radius * math.sin(a)) for a in (a0, a1)]

    def distance(x: float, y: float) -> float:
        dx, dy = x - cx, y - cy
        angle = (math.atan2(dy, dx) - a0) % (2 * math.pi)
        if angle <= math.radians(sweep):
            return abs(math.hypot(dx, dy) - radius) - STROKE / 2
        return min(math.hypot(x - ex, y - ey) for ex, ey in ends) - STROKE / 2

    return distance


def coverage(distance: float, pixel: float) -> float:
    """How much of a pixel (width ``pixel`` in logo units) a shape covers."""
    return min(1.0, max(0.0, 0.5 - distance / pixel))


def render(size: int, scale: float, background: Distance) -> bytes:
    """RGBA rows of the logo: ``scale`` pixels per logo unit, centred in a ``size`` square.

    ``background`` is in logo units, relative to the same centring.
    """
    pixel = 1 / scale
    offset = 32 - size / 2 * pixel  # logo coordinate of the image's left/top edge
    rings = [ring_arc(*WHITE_RING, RING_RADIUS), ring_arc(*MINT_RING, RING_RADIUS)]
    colours = [WHITE, MINT]
    rows = bytearray()
    for py in range(size):
        rows.append(0)  # PNG filter type 0 (none) for this row
        y = offset + (py + 0.5) * pixel
        for px in range(size):
            x = offset + (px + 0.5) * pixel
            alpha = coverage(background(x, y), pixel)
            if alpha == 0.0:
                rows += b"\0\0\0\0"
                continue
            r, g, b = TEAL
            for ring, (cr, cg, cb) in zip(rings, colours, strict=True):
                c = coverage(ring(x, y), pixel)
                if c:
                    r, g, b = r + (cr - r) * c, g + (cg - g) * c, b + (cb - b) * c
            rows += bytes((round(r), round(g), round(b), round(alpha * 255)))
    return bytes(rows)


def png(size: int, rgba_rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rgba_rows, 9))
        + chunk(b"IEND", b"")
    )


def standard(size: int) -> bytes:
    """The logo exactly as icon.svg: rounded square, transparent corners."""
    return png(size, render(size, size / 64, rounded_square(64, 14)))


def full_bleed(size: int, reach: float) -> bytes:
    """A teal square edge to edge (for masks), the strokes within ``reach`` × size of the centre."""
    scale = reach * size / LOGO_REACH
    half = size / 2 / scale
    # a square larger than the image, so every pixel is fully teal
    return png(size, render(size, scale, lambda x, y: max(abs(x - 32), abs(y - 32)) - half - 1))


ICONS: dict[str, Callable[[], bytes]] = {
    "icon-192.png": lambda: standard(192),
    "icon-512.png": lambda: standard(512),
    # the maskable safe zone is a circle of radius 0.4 × size; stay well inside it
    "icon-maskable-512.png": lambda: full_bleed(512, 0.33),
    # iOS rounds the corners itself and turns transparency black: full bleed, logo a bit larger
    "apple-touch-icon.png": lambda: full_bleed(180, 0.36),
}


def main() -> None:
    for name, draw in ICONS.items():
        (HERE / name).write_bytes(draw())
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
