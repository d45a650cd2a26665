"""Every text the app shows exists in Dutch; placeholders survive translation."""

import re
from pathlib import Path

from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parents[2] / "pwa" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _catalog(name: str):  # type: ignore[no-untyped-def]
    with (TRANSLATIONS / name).open("rb") as fh:
        return read_po(fh)


def test_every_message_has_a_dutch_translation_with_the_same_placeholders() -> None:
    template = _catalog("messages.pot")
    dutch = _catalog("nl/LC_MESSAGES/messages.po")
    missing, broken = [], []
    for message in template:
        if not message.id:
            continue
        translated = dutch.get(message.id)
        strings = translated.string if translated else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            missing.append(message.id)
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        outs = strings if isinstance(strings, tuple) else (strings,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        if any(set(PLACEHOLDER.findall(out)) != wanted for out in outs):
            broken.append(message.id)
    assert missing == [], f"untranslated: {missing}"
    assert broken == [], f"placeholders differ: {broken}"
