"""Draw the notification badge (badge-96.png): the logo's two rings, white on transparent.

Android shows a notification's badge as a silhouette in the status bar, so it has to be
monochrome with transparency. Reuses the logo's geometry from make_icons.py; run once after
changing the logo: ``uv run python pwa/static/icons/badge_make.py``.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_icons import (  # noqa: E402
    MINT_RING,
    RING_RADIUS,
    WHITE_RING,
    coverage,
    png,
    ring_arc,
)


def badge(size: int, reach: float = 0.42) -> bytes:
    scale = reach * size / 23.0  # the rings reach 23 logo units from the centre
    pixel = 1 / scale
    offset = 32 - size / 2 * pixel
    rings = [ring_arc(*WHITE_RING, RING_RADIUS), ring_arc(*MINT_RING, RING_RADIUS)]
    rows = bytearray()
    for py in range(size):
        rows.append(0)
        y = offset + (py + 0.5) * pixel
        for px in range(size):
            x = offset + (px + 0.5) * pixel
            alpha = max(coverage(ring(x, y), pixel) for ring in rings)
            rows += bytes((255, 255, 255, round(alpha * 255)))
    return png(size, bytes(rows))


if __name__ == "__main__":
    (HERE / "badge-96.png").write_bytes(badge(96))
