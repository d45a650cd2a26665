"""Translations (gettext catalogs in pwa/translations, read from .po at start-up) and locale choice."""

import contextvars
import unicodedata
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

SUPPORTED_LOCALES = ("nl", "en")
DEFAULT_LOCALE = "nl"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

_current: contextvars.ContextVar[str] = contextvars.ContextVar(
    "learnloop_locale", default=DEFAULT_LOCALE
)


def catalog_files(locale: str) -> list[Path]:
    """The .po files of ``locale``: messages.po (the learner app), then one per console
    section (console_*.po), so teams working on different sections don't edit one file."""
    folder = TRANSLATIONS_DIR / locale / "LC_MESSAGES"
    main = folder / "messages.po"
    return [main, *sorted(p for p in folder.glob("*.po") if p != main)]


@cache
def translations(locale: str) -> Translations:
    """The compiled catalogs for ``locale`` (compiled in memory, so no build step is needed)."""
    merged: Translations | None = None
    for po in catalog_files(locale):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        buffer = BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = Translations(fp=buffer)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    assert merged is not None
    return merged


def set_locale(locale: str) -> None:
    _current.set(locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE)


def current_locale() -> str:
    return _current.get()


def gettext(message: str) -> str:
    return translations(current_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale()).ngettext(singular, plural, n)


def negotiate(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """Pick nl or en from an Accept-Language header (quality values respected)."""
    if not accept_language:
        return default
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in SUPPORTED_LOCALES and quality > 0:
            choices.append((-quality, index, lang))
    return sorted(choices)[0][2] if choices else default


def sort_key(text: str) -> tuple[str, str]:
    """Order names as a Dutch or English reader expects: "Özlem" beside "Olaf", not after
    "Zoë" (letters without their accents first, case ignored; then the full text)."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return bare.casefold(), text


def N_(message: str) -> str:
    """Mark a string for translation without translating it yet (translated where shown)."""
    return message
