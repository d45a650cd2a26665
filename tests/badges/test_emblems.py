"""Emblems: generated SVGs from the fixed sets, and uploads made safe or refused."""

import struct
import zlib
from xml.etree import ElementTree as ET

import pytest

from backend.badges.emblems import (
    COLOURS,
    ICONS,
    SHAPES,
    EmblemDesign,
    EmblemRejected,
    check_png,
    default_design,
    read_upload,
    render_emblem,
    sanitise_svg,
)

SVG = "http://www.w3.org/2000/svg"


def png(width: int, height: int, size: int = 0) -> bytes:
    """A PNG header with the given dimensions (padded to ``size`` bytes), ending in IEND."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    body = b"\x89PNG\r\n\x1a\n" + chunk
    padding = max(0, size - len(body) - len(iend))
    return body + b"\0" * padding + iend


def elements(svg: bytes) -> set[str]:
    return {element.tag.split("}")[1] for element in ET.fromstring(svg).iter()}


def test_every_design_renders_a_self_contained_svg_in_its_colour() -> None:
    for shape in SHAPES:
        for colour, (_, fill, _) in COLOURS.items():
            for icon in ICONS:
                svg = render_emblem(EmblemDesign(shape, colour, icon))
                root = ET.fromstring(svg)  # well-formed
                assert root.tag == f"{{{SVG}}}svg"
                assert fill.encode() in svg
                assert b"href" not in svg and b"url(" not in svg
    titled = render_emblem(EmblemDesign("star", "blue", "heart"), title="<Kampioen & co>")
    assert b"&lt;Kampioen &amp; co&gt;" in titled
    # an unknown choice falls back instead of failing
    assert render_emblem(EmblemDesign("blob", "neon", "nope")) == render_emblem(
        EmblemDesign("circle", "teal", "star")
    )


def test_a_badge_without_a_design_gets_a_stable_default() -> None:
    first = default_design("feedback-pro", "streak_length")
    assert first == default_design("feedback-pro", "streak_length")
    assert (first.shape, first.icon) == ("circle", "flame")
    assert first.colour in COLOURS


def test_the_sanitiser_keeps_drawing_and_drops_everything_active_or_external() -> None:
    dirty = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     viewBox="0 0 100 100" onload="alert(1)">
  <!-- a comment -->
  <?php echo 1; ?>
  <script>alert(1)</script>
  <style>@import url(https://evil.example/x.css);</style>
  <defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs>
  <circle id="c" cx="50" cy="50" r="40" fill="url(#g)" onclick="steal()"/>
  <rect width="10" height="10" fill="url(https://evil.example/p.svg#x)" style="fill: red"/>
  <rect width="5" height="5" style="background: url(https://evil.example/t.png)"/>
  <a xlink:href="javascript:alert(1)"><path d="M0 0h10"/></a>
  <use xlink:href="https://evil.example/sprite.svg#icon"/>
  <use href="#c" x="5"/>
  <image href="https://evil.example/track.png" width="1" height="1"/>
  <foreignObject width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml">hi</div></foreignObject>
  <animate attributeName="href" to="javascript:alert(1)"/>
  <text x="1" y="2" onmouseover="x()">Hallo</text>
</svg>"""
    clean = sanitise_svg(dirty)
    assert elements(clean) == {
        "svg",
        "defs",
        "linearGradient",
        "stop",
        "circle",
        "rect",
        "use",
        "text",
    }
    lowered = clean.lower()
    for gone in (b"script", b"onload", b"onclick", b"onmouseover", b"javascript", b"evil.example",
                 b"foreignobject", b"@import", b"<a ", b"<image", b"animate", b"php"):  # fmt: skip
        assert gone not in lowered, gone
    assert b'fill="url(#g)"' in clean and b'href="#c"' in clean and b"Hallo" in clean
    assert b'style="fill: red"' in clean


@pytest.mark.parametrize(
    "upload",
    [
        b'<!DOCTYPE svg [<!ENTITY lol "lol">]><svg xmlns="http://www.w3.org/2000/svg">&lol;</svg>',
        b'<!doctype svg SYSTEM "file:///etc/passwd"><svg xmlns="http://www.w3.org/2000/svg"/>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><!ENTITY x "y"></svg>',
    ],
)
def test_doctype_and_entities_are_refused(upload: bytes) -> None:
    with pytest.raises(EmblemRejected, match="DOCTYPE"):
        sanitise_svg(upload)


def test_broken_foreign_empty_and_large_svgs_are_refused() -> None:
    for upload, reason in (
        (b"<svg xmlns='http://www.w3.org/2000/svg'><circle></svg>", "not a valid SVG"),
        (b"<html><body/></html>", "not a valid SVG"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>x</script></svg>", "nothing left"),
        (b"\xff\xfe<\x00s\x00", "UTF-8"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'>" + b" " * 205_000 + b"</svg>", "200 KB"),
    ):
        with pytest.raises(EmblemRejected, match=reason):
            sanitise_svg(upload)


def test_png_signature_dimensions_and_size_are_checked() -> None:
    good = png(128, 128)
    assert check_png(good) == good
    assert read_upload(good, "emblem.png") == ("image/png", good)
    for upload, reason in (
        (png(8, 8), "between 16 and 1024"),
        (png(2048, 64), "between 16 and 1024"),
        (png(64, 64, size=210_000), "200 KB"),
        (png(64, 64)[:-12], "not a valid PNG"),  # cut off: no IEND
        (png(64, 64)[:29] + b"\0\0\0\0" + png(64, 64)[33:], "not a valid PNG"),  # bad CRC
    ):
        with pytest.raises(EmblemRejected, match=reason):
            read_upload(upload, "x.png")


def test_uploads_are_told_apart_by_their_content_not_their_name() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>'
    assert read_upload(svg, "looks.png")[0] == "image/svg+xml"
    with pytest.raises(EmblemRejected, match="SVG or PNG"):
        read_upload(b"GIF89a....", "emblem.gif")
    with pytest.raises(EmblemRejected, match="Choose"):
        read_upload(b"", "")
