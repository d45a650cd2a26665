"""Open Badges 3.0 baking: the signed credential (VC-JWT) carried inside the badge image, so
the picture a learner downloads is itself the verifiable credential.

SVG: an ``<openbadges:credential verify="<JWT>">`` element right inside the root ``<svg>``
(namespace ``https://purl.imsglobal.org/ob/v3p0``). PNG: an ``iTXt`` chunk with the keyword
``openbadgecredential`` whose text is the JWT, right after ``IHDR``.
"""

import re
import struct
import zlib
from html import escape

OB_NAMESPACE = "https://purl.imsglobal.org/ob/v3p0"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEYWORD = b"openbadgecredential"
_SVG_ROOT = re.compile(rb"<svg\b[^>]*>")


def bake_svg(svg: bytes, token: str) -> bytes:
    root = _SVG_ROOT.search(svg)
    if root is None:
        raise ValueError("not an SVG image: no <svg> element")
    tag = root.group(0)
    if b"xmlns:openbadges" not in tag:
        tag = tag[:-1] + f' xmlns:openbadges="{OB_NAMESPACE}">'.encode()
    element = f'<openbadges:credential verify="{escape(token)}"></openbadges:credential>'
    return svg[: root.start()] + tag + element.encode() + svg[root.end() :]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bake_png(png: bytes, token: str) -> bytes:
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    (ihdr_length,) = struct.unpack(">I", png[8:12])
    after_ihdr = 8 + 12 + ihdr_length
    # keyword, NUL, not compressed (0), method 0, no language tag, no translated keyword
    data = PNG_KEYWORD + b"\x00\x00\x00" + b"\x00" + b"\x00" + token.encode("utf-8")
    return png[:after_ihdr] + _chunk(b"iTXt", data) + png[after_ihdr:]


def png_credential(png: bytes) -> str | None:
    """The JWT baked into ``png`` (what a verifier reads back), or None."""
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        if kind == b"iTXt" and data.startswith(PNG_KEYWORD + b"\x00"):
            rest = data[len(PNG_KEYWORD) + 3 :]
            _language, _, rest = rest.partition(b"\x00")
            _translated, _, text = rest.partition(b"\x00")
            return text.decode("utf-8")
        at += 12 + length
    return None


def bake(media_type: str, image: bytes, token: str) -> bytes:
    """``image`` with ``token`` baked in (SVG or PNG, the two emblem formats)."""
    if media_type == "image/png":
        return bake_png(image, token)
    return bake_svg(image, token)
