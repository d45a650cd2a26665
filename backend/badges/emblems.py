"""Badge emblems: generated from a shape, a colour and an icon, or uploaded and sanitised.

A generated emblem is an SVG drawn here from a small fixed set (shapes, an accessible
palette whose colours all carry a white icon at WCAG AA contrast, and line icons).
An uploaded SVG is parsed and rebuilt from an allow-list of elements and attributes:
scripts, event handlers, ``foreignObject``, style sheets and every reference that leaves
the document are dropped; a DOCTYPE (and so any entity declaration) is refused outright.
An uploaded PNG is checked (signature, header, dimensions, size), not re-encoded.
"""

import re
import struct
import zlib
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree as ET

from pwa.i18n import N_

MAX_UPLOAD_BYTES = 200 * 1024
MAX_PNG_SIDE = 1024
MIN_PNG_SIDE = 16

SVG_MEDIA_TYPE = "image/svg+xml"
PNG_MEDIA_TYPE = "image/png"
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"

Shape = Literal["circle", "shield", "hexagon", "star", "rosette"]
Colour = Literal["teal", "blue", "indigo", "purple", "rose", "orange", "green", "slate"]
Icon = Literal[
    "star", "book", "flame", "clock", "trophy", "bulb", "chat", "rocket", "check", "heart"
]

SHAPES: dict[str, str] = {
    "circle": N_("Circle"),
    "shield": N_("Shield"),
    "hexagon": N_("Hexagon"),
    "star": N_("Star"),
    "rosette": N_("Rosette"),
}

# (label, fill, darker rim): every fill has >= 4.5:1 contrast with white
COLOURS: dict[str, tuple[str, str, str]] = {
    "teal": (N_("Teal"), "#0f766e", "#115e59"),
    "blue": (N_("Blue"), "#1d4ed8", "#1e3a8a"),
    "indigo": (N_("Indigo"), "#4338ca", "#312e81"),
    "purple": (N_("Purple"), "#7e22ce", "#581c87"),
    "rose": (N_("Rose"), "#be123c", "#881337"),
    "orange": (N_("Orange"), "#c2410c", "#7c2d12"),
    "green": (N_("Green"), "#15803d", "#14532d"),
    "slate": (N_("Slate"), "#334155", "#0f172a"),
}

# 24x24 line icons (stroke drawn in white)
ICONS: dict[str, tuple[str, str]] = {
    "star": (
        N_("Star"),
        "M12 3l2.8 5.7 6.2.9-4.5 4.4 1.1 6.2L12 17.3 6.4 20.2l1.1-6.2L3 9.6l6.2-.9z",
    ),
    "book": (
        N_("Book"),
        "M4 5.5C6.5 4 9.5 4 12 6c2.5-2 5.5-2 8-.5V19c-2.5-1.5-5.5-1.5-8 .5-2.5-2-5.5-2-8-.5zM12 6v13.5",
    ),
    "flame": (
        N_("Flame"),
        "M12 21c-3.9 0-6.5-2.6-6.5-6.2 0-3.4 2.6-5.2 3.9-8.3.9 1.9 1.9 2.8 3 3.3C12.6 7 13 5 12.5 3c3.5 2 6 6.2 6 10.8 0 4.1-2.6 7.2-6.5 7.2zM12 21c-1.6 0-2.8-1.2-2.8-2.9 0-1.7 1.4-2.6 2.8-4.6 1.4 2 2.8 2.9 2.8 4.6 0 1.7-1.2 2.9-2.8 2.9z",
    ),
    "clock": (N_("Clock"), "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM12 7v5l3.5 2"),
    "trophy": (
        N_("Trophy"),
        "M7 4h10v5a5 5 0 0 1-10 0zM7 6H4v1.5A3.5 3.5 0 0 0 7.5 11M17 6h3v1.5a3.5 3.5 0 0 1-3.5 3.5M12 14v4M8 21h8M9.5 18h5",
    ),
    "bulb": (
        N_("Light bulb"),
        "M9 18h6M10 21h4M12 3a6 6 0 0 0-3.5 10.9c.6.5 1 1.2 1 2.1h5c0-.9.4-1.6 1-2.1A6 6 0 0 0 12 3z",
    ),
    "chat": (N_("Speech bubble"), "M4 5h16v11H9l-5 4zM8 9.5h8M8 12.5h5"),
    "rocket": (
        N_("Rocket"),
        "M12 3c3 2 4.5 5.5 4.5 9.5L14 16h-4l-2.5-3.5C7.5 8.5 9 5 12 3zM12 8.5v.01M7.5 12.5 5 15l1 4 4-2.5M16.5 12.5 19 15l-1 4-4-2.5M10.5 19.5 12 21l1.5-1.5",
    ),
    "check": (N_("Check mark"), "M4.5 12.5l5 5 10-11"),
    "heart": (
        N_("Heart"),
        "M12 20s-7.5-4.6-7.5-10.2A4.3 4.3 0 0 1 12 7.2a4.3 4.3 0 0 1 7.5 2.6C19.5 15.4 12 20 12 20z",
    ),
}


@dataclass(frozen=True)
class EmblemDesign:
    shape: str
    colour: str
    icon: str


def _outline(shape: str) -> str:
    """The shape's outline as SVG markup inside a 120x120 view box."""
    if shape == "shield":
        return '<path d="M60 6 104 22v34c0 28-18 48-44 58C34 104 16 84 16 56V22z"/>'
    if shape == "hexagon":
        return '<path d="M60 5 108 32.5v55L60 115 12 87.5v-55z"/>'
    if shape == "star":
        return (
            '<path d="M60 4 74 30 103 24 96 53 116 75 88 85 84 114 60 98 36 114 32 85 4 75 '
            '24 53 17 24 46 30z"/>'
        )
    if shape == "rosette":
        return (
            '<path d="M60 4 71 14 85 9 90 23 105 26 103 41 114 51 106 64 111 78 97 84 95 99 '
            "80 99 71 111 60 103 49 111 40 99 25 99 23 84 9 78 14 64 6 51 17 41 15 26 30 23 "
            '35 9 49 14z"/>'
        )
    return '<circle cx="60" cy="60" r="55"/>'


def render_emblem(design: EmblemDesign, *, title: str = "") -> bytes:
    """The emblem as a self-contained SVG document (no external references)."""
    shape = design.shape if design.shape in SHAPES else "circle"
    _, fill, rim = COLOURS.get(design.colour, COLOURS["teal"])
    icon_path = ICONS.get(design.icon, ICONS["star"])[1]
    outline = _outline(shape)
    label = f"<title>{_escape(title)}</title>" if title else ""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 120" width="120" '
        f'height="120" role="img">{label}'
        f'<g fill="{rim}">{outline}</g>'
        f'<g fill="{fill}" transform="translate(60 60) scale(.88) translate(-60 -60)">'
        f"{outline}</g>"
        '<g fill="none" stroke="#ffffff" stroke-opacity=".35" stroke-width="2" '
        'transform="translate(60 60) scale(.76) translate(-60 -60)">'
        f"{outline}</g>"
        '<g fill="none" stroke="#ffffff" stroke-width="1.8" stroke-linecap="round" '
        'stroke-linejoin="round" transform="translate(33 33) scale(2.25)">'
        f'<path d="{icon_path}"/></g></svg>'
    )
    return svg.encode("utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


DEFAULT_ICONS = {
    "event_count": "book",
    "distinct_competencies": "star",
    "streak_length": "flame",
    "total_minutes": "clock",
    "hot_skill_completions": "rocket",
    "challenges_completed": "trophy",
    "testimonials_written": "chat",
    "first_informal_log": "bulb",
}


def default_design(code: str, criterion_kind: str) -> EmblemDesign:
    """The emblem of a badge nobody designed one for: stable per badge code."""
    colours = list(COLOURS)
    colour = colours[zlib.crc32(code.encode("utf-8")) % len(colours)]
    return EmblemDesign("circle", colour, DEFAULT_ICONS.get(criterion_kind, "star"))


# --- uploads ---------------------------------------------------------------------------------


class EmblemRejected(ValueError):
    """An upload that cannot be used; the message says why (shown to the L&D admin)."""


SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"

ALLOWED_ELEMENTS = frozenset(
    {
        "svg", "g", "path", "circle", "ellipse", "rect", "line", "polyline", "polygon",
        "defs", "linearGradient", "radialGradient", "stop", "clipPath", "mask", "symbol",
        "use", "title", "desc", "text", "tspan",
    }
)  # fmt: skip
TEXT_ELEMENTS = frozenset({"title", "desc", "text", "tspan"})

ALLOWED_ATTRIBUTES = frozenset(
    {
        "id", "class", "viewBox", "width", "height", "x", "y", "x1", "y1", "x2", "y2",
        "cx", "cy", "r", "rx", "ry", "fx", "fy", "d", "points", "transform", "fill",
        "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
        "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray",
        "stroke-dashoffset", "opacity", "offset", "stop-color", "stop-opacity",
        "gradientUnits", "gradientTransform", "spreadMethod", "clip-path", "clip-rule",
        "clipPathUnits", "mask", "maskUnits", "maskContentUnits", "preserveAspectRatio",
        "font-family", "font-size", "font-weight", "font-style", "text-anchor",
        "dominant-baseline", "letter-spacing", "dx", "dy", "visibility", "display",
        "color", "style", "version", "role", "aria-label", "aria-hidden", "href",
    }
)  # fmt: skip

# a value may point inside the document (url(#id)) and nowhere else
_URL = re.compile(r"url\s*\(", re.IGNORECASE)
_LOCAL_URL = re.compile(r"url\(\s*['\"]?#[A-Za-z_][\w.-]*['\"]?\s*\)")
_UNSAFE_STYLE = re.compile(r"@import|expression|javascript:|behavior|-moz-binding|\\", re.I)


def _local_name(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _safe_value(value: str) -> bool:
    if _UNSAFE_STYLE.search(value):
        return False
    remainder = _LOCAL_URL.sub("", value)
    return not _URL.search(remainder)


def _clean_attributes(source: ET.Element, name: str) -> dict[str, str]:
    kept: dict[str, str] = {}
    for raw, value in source.attrib.items():
        ns, attr = _local_name(raw)
        if ns == XLINK_NS and attr == "href":
            attr = "href"
        elif ns == XML_NS and attr == "space":
            kept[f"{{{XML_NS}}}space"] = value
            continue
        elif ns:
            continue  # any other namespaced attribute
        if attr.lower().startswith("on") or attr not in ALLOWED_ATTRIBUTES:
            continue
        if attr == "href":
            # only <use> may refer, and only to an element of this document
            if name != "use" or not re.fullmatch(r"#[A-Za-z_][\w.-]*", value.strip()):
                continue
            value = value.strip()
        elif not _safe_value(value):
            continue
        kept[attr] = value
    return kept


def _copy(source: ET.Element) -> ET.Element | None:
    ns, name = _local_name(source.tag)
    if ns != SVG_NS or name not in ALLOWED_ELEMENTS:
        return None  # scripts, foreignObject, style, image, a, animate...: gone, with children
    element = ET.Element(f"{{{SVG_NS}}}{name}", _clean_attributes(source, name))
    if name in TEXT_ELEMENTS and source.text:
        element.text = source.text
    for child in source:
        copied = _copy(child)
        if copied is not None:
            if name in TEXT_ELEMENTS and child.tail:
                copied.tail = child.tail
            element.append(copied)
    if name == "use" and "href" not in element.attrib:
        return None
    return element


def sanitise_svg(data: bytes) -> bytes:
    """``data`` rebuilt from the allow-list; raises :class:`EmblemRejected`."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise EmblemRejected(N_("The file is larger than 200 KB."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EmblemRejected(N_("The SVG file must be UTF-8 text.")) from exc
    if re.search(r"<!DOCTYPE|<!ENTITY", text, re.IGNORECASE):
        raise EmblemRejected(N_("SVG files with a DOCTYPE or entities are not accepted."))
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    try:
        parser = ET.XMLParser()
        root = ET.fromstring(text, parser=parser)
    except ET.ParseError as exc:
        raise EmblemRejected(N_("The file is not a valid SVG image.")) from exc
    if _local_name(root.tag) != (SVG_NS, "svg"):
        raise EmblemRejected(N_("The file is not a valid SVG image."))
    clean = _copy(root)
    if clean is None or len(clean) == 0:
        raise EmblemRejected(N_("The SVG image has nothing left to show once made safe."))
    ET.register_namespace("", SVG_NS)
    result: bytes = ET.tostring(clean, encoding="utf-8", xml_declaration=False)
    return result


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png(data: bytes) -> bytes:
    """``data`` if it is a PNG within the limits; raises :class:`EmblemRejected`."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise EmblemRejected(N_("The file is larger than 200 KB."))
    if not data.startswith(PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        raise EmblemRejected(N_("The file is not a valid PNG image."))
    width, height = struct.unpack(">II", data[16:24])
    if zlib.crc32(data[12:29]) != struct.unpack(">I", data[29:33])[0]:
        raise EmblemRejected(N_("The file is not a valid PNG image."))
    if not (MIN_PNG_SIDE <= width <= MAX_PNG_SIDE and MIN_PNG_SIDE <= height <= MAX_PNG_SIDE):
        raise EmblemRejected(N_("A PNG emblem is between 16 and 1024 pixels wide and high."))
    if b"IEND" not in data[-12:]:
        raise EmblemRejected(N_("The file is not a valid PNG image."))
    return data


def read_upload(data: bytes, filename: str = "") -> tuple[str, bytes]:
    """(media type, safe bytes) of an uploaded emblem, told apart by content."""
    if not data:
        raise EmblemRejected(N_("Choose an SVG or PNG file."))
    if data.startswith(PNG_SIGNATURE):
        return PNG_MEDIA_TYPE, check_png(data)
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype")) or filename.lower().endswith(
        ".svg"
    ):
        return SVG_MEDIA_TYPE, sanitise_svg(data)
    raise EmblemRejected(N_("Upload an SVG or PNG file."))
