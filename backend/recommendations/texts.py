"""A recommendation's reason as one line in the learner's language (Dutch texts in
pwa/translations/nl/LC_MESSAGES/learner_reco.po)."""

from functools import lru_cache

from babel.dates import format_date
from babel.numbers import format_currency

from gamification.recommend import Recommendation, RecommendationReason
from pwa.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, translations


def reason_line(rec: Recommendation, locale: str) -> str:
    """Why ``rec`` is recommended, in one short sentence."""
    locale = locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE
    tr = translations(locale)
    reason = rec.reason
    if reason is RecommendationReason.GOAL:
        due = format_date(rec.due_on, format="d MMMM", locale=locale) if rec.due_on else ""
        if rec.detail:
            return tr.gettext("Towards your %(competency)s goal for %(date)s") % {
                "competency": rec.detail,
                "date": due,
            }
        return tr.gettext("Towards your goal for %(date)s") % {"date": due}
    if reason is RecommendationReason.EXPECTED_COMPETENCY:
        return tr.gettext("%(competency)s belongs to your role and is new for you") % {
            "competency": rec.detail
        }
    if reason is RecommendationReason.HOT_SKILL:
        return tr.gettext("A skill much in demand right now")
    if reason is RecommendationReason.TEAM_PRAISED:
        if rec.detail == "praised":
            return tr.ngettext(
                "%(num)d colleague in your team recommends it",
                "%(num)d colleagues in your team recommend it",
                rec.count,
            ) % {"num": rec.count}
        return tr.ngettext(
            "%(num)d colleague in your team finished it",
            "%(num)d colleagues in your team finished it",
            rec.count,
        ) % {"num": rec.count}
    if reason is RecommendationReason.HORIZONTAL:
        return tr.gettext("A look beyond your own work: made for %(family)s") % {
            "family": rec.detail
        }
    if reason is RecommendationReason.FITS_BUDGET:
        cost = _euros(rec.count, locale)
        return tr.gettext("Fits your remaining learning budget (%(cost)s)") % {"cost": cost}
    return tr.ngettext(
        "Just %(num)d minute: keeps your streak going",
        "Just %(num)d minutes: keeps your streak going",
        rec.count,
    ) % {"num": rec.count}


@lru_cache(maxsize=4096)
def _euros(cents: int, locale: str) -> str:
    """Babel's ``format_currency``, kept per process: it parses the locale and the pattern on
    every call (~0.1 ms), on every Today view that recommends a course for its price."""
    return format_currency(cents / 100, "EUR", locale=locale)
