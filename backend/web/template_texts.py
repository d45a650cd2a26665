"""The templates' translated texts and numbers, at the cost of a dict look-up.

Jinja's i18n extension (newstyle) runs every ``_()``, ``gettext`` and ``{% trans %}`` through
three calls with the template context (``_`` -> ``gettext`` -> our catalog), wraps the text in
``Markup`` and %-formats it, even without variables: a page calls it 50-150 times, and that was
about a third of rendering Today, Progress and the catalogue. These callables do the same
(the same catalog, escaping and %-formatting, so every page reads as before), with a text
without variables kept per locale once formatted: the catalogs are read once per process
(``pwa.i18n.translations``), so the kept texts never go stale. The ``number`` filter keeps
Babel's formatting per (value, locale) for the same reason (Babel parses the locale on every
call).
"""

from functools import lru_cache
from typing import Any

from babel.numbers import format_decimal
from jinja2 import Environment, pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

from pwa.i18n import current_locale, gettext, ngettext, translations

MAX_KEPT = 4096
"""Texts kept per process (then no more are kept): template literals, in two languages."""

_kept: dict[tuple[str, str, bool], str] = {}


@pass_eval_context
def template_gettext(eval_ctx: EvalContext, message: str, /, **variables: Any) -> str:
    """Jinja's newstyle ``gettext``: the translation, escaped and %-formatted with
    ``variables`` (also without any, so ``%%`` reads as ``%`` everywhere)."""
    locale = current_locale()
    if variables:
        text = translations(locale).gettext(message)
        return (Markup(text) if eval_ctx.autoescape else text) % variables
    key = (locale, message, eval_ctx.autoescape)
    found = _kept.get(key)
    if found is None:
        text = translations(locale).gettext(message)
        found = (Markup(text) if eval_ctx.autoescape else text) % {}
        if len(_kept) < MAX_KEPT:
            _kept[key] = found
    return found


@pass_eval_context
def template_ngettext(
    eval_ctx: EvalContext, singular: str, plural: str, num: int, /, **variables: Any
) -> str:
    """Jinja's newstyle ``ngettext``: ``num`` is also the variable ``num``."""
    variables.setdefault("num", num)
    text = translations(current_locale()).ngettext(singular, plural, num)
    return (Markup(text) if eval_ctx.autoescape else text) % variables


@lru_cache(maxsize=4096, typed=True)
def _number(value: Any, locale: str) -> str:
    return format_decimal(value, locale=locale)


def number(value: Any) -> str:
    """A number as the reader writes it: 1.993 in Dutch, 1,993 in English."""
    try:
        return _number(value, current_locale())
    except TypeError:  # not hashable: Babel says what it makes of it
        return format_decimal(value, locale=current_locale())


def install_template_texts(env: Environment) -> None:
    """Give ``env`` (with ``jinja2.ext.i18n``) the catalogs' texts and the ``number`` filter."""
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(gettext=template_gettext, ngettext=template_ngettext, _=template_gettext)
    env.filters["number"] = number
