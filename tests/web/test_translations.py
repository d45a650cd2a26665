"""Every text the app shows exists in Dutch; placeholders survive translation.

The texts are read from the source itself (the same extraction as README's pybabel command),
so a new text without a Dutch translation fails here. Translations live in
pwa/translations/nl/LC_MESSAGES: messages.po (the learner app) and console_*.po (one per
console section); the app reads them all (pwa.i18n.catalog_files).
"""

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from pwa.i18n import catalog_files

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "_msg": None}


def _source_messages() -> dict[object, str]:
    """msgid (a string, or a (singular, plural) pair) -> where it was found."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[object, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        if message:
            found.setdefault(message, f"{filename}:{lineno}")
    return found


def _dutch() -> Catalog:
    merged = Catalog(locale="nl")
    for po in catalog_files("nl"):
        with po.open("rb") as fh:
            for message in read_po(fh, locale="nl"):
                if message.id and message.string:
                    merged[message.id] = message
    return merged


def test_every_text_in_the_source_has_a_dutch_translation_with_the_same_placeholders() -> None:
    dutch = _dutch()
    missing, broken = [], []
    for msgid, where in _source_messages().items():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        translated = dutch.get(key)
        strings = translated.string if translated else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            missing.append(f"{where}: {msgid!r}")
            continue
        ids = msgid if isinstance(msgid, tuple) else (msgid,)
        outs = strings if isinstance(strings, tuple) else (strings,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        if any(set(PLACEHOLDER.findall(out)) != wanted for out in outs):
            broken.append(f"{where}: {msgid!r}")
    assert missing == [], "untranslated:\n" + "\n".join(missing)
    assert broken == [], "placeholders differ:\n" + "\n".join(broken)


def test_no_text_is_translated_twice() -> None:
    """One msgid lives in one catalog file, so two translations cannot silently disagree."""
    seen: dict[object, str] = {}
    twice = []
    for po in catalog_files("nl"):
        with po.open("rb") as fh:
            for message in read_po(fh, locale="nl"):
                if message.id in seen:
                    twice.append(f"{message.id!r} in {seen[message.id]} and {po.name}")
                elif message.id:
                    seen[message.id] = po.name
    assert twice == []
