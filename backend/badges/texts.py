"""Badge texts in Dutch and English: tier labels and the "how to earn" sentence of a tier.

Pure functions of the engine's :class:`BadgeCriterion`, so the badge catalogue, the badge
wall and the Open Badges credential (``criteria.narrative``) say the same thing.
"""

from datetime import date
from functools import lru_cache
from typing import Literal

from babel.numbers import format_decimal

from gamification import BadgeCriterion, CriterionKind, EventKind, StreakMode

Language = Literal["nl", "en"]

# (nl, en) labels of the usual tier names; any other tier name is shown as it is
TIER_LABELS: dict[str, tuple[str, str]] = {
    "bronze": ("brons", "bronze"),
    "silver": ("zilver", "silver"),
    "gold": ("goud", "gold"),
    "platinum": ("platina", "platinum"),
}

# (one, many) sentences per language; ``{n}`` is the threshold
Phrases = dict[Language, tuple[str, str]]

EVENT_COUNT_PHRASES: dict[EventKind | None, Phrases] = {
    None: {
        "nl": ("Registreer 1 leeractiviteit", "Registreer {n} leeractiviteiten"),
        "en": ("Record 1 learning activity", "Record {n} learning activities"),
    },
    EventKind.COMPLETION: {
        "nl": ("Rond 1 training af", "Rond {n} trainingen af"),
        "en": ("Complete 1 course", "Complete {n} courses"),
    },
    EventKind.PROGRESS: {
        "nl": ("Boek 1 keer voortgang in een training", "Boek {n} keer voortgang in een training"),
        "en": ("Make progress in a course once", "Make progress in a course {n} times"),
    },
    EventKind.EXPERIENCE: {
        "nl": ("Leg 1 praktijkervaring vast", "Leg {n} praktijkervaringen vast"),
        "en": ("Record 1 on-the-job experience", "Record {n} on-the-job experiences"),
    },
    EventKind.INFORMAL: {
        "nl": ("Leg 1 leermoment vast", "Leg {n} leermomenten vast"),
        "en": ("Log 1 learning moment", "Log {n} learning moments"),
    },
    EventKind.TESTIMONIAL: {
        "nl": ("Deel 1 ervaring met een training", "Deel {n} ervaringen met trainingen"),
        "en": ("Write 1 testimonial", "Write {n} testimonials"),
    },
}

KIND_PHRASES: dict[CriterionKind, Phrases] = {
    CriterionKind.DISTINCT_COMPETENCIES: {
        "nl": ("Leer binnen 1 competentie", "Leer binnen {n} verschillende competenties"),
        "en": ("Learn in 1 competency", "Learn in {n} different competencies"),
    },
    CriterionKind.HOT_SKILL_COMPLETIONS: {
        "nl": (
            "Rond 1 training in een gevraagde vaardigheid af",
            "Rond {n} trainingen in gevraagde vaardigheden af",
        ),
        "en": ("Complete 1 hot-skill course", "Complete {n} hot-skill courses"),
    },
    CriterionKind.CHALLENGES_COMPLETED: {
        "nl": ("Voltooi 1 uitdaging", "Voltooi {n} uitdagingen"),
        "en": ("Complete 1 challenge", "Complete {n} challenges"),
    },
    CriterionKind.TESTIMONIALS_WRITTEN: EVENT_COUNT_PHRASES[EventKind.TESTIMONIAL],
    CriterionKind.FIRST_INFORMAL_LOG: {
        "nl": ("Leg je eerste leermoment vast", "Leg {n} leermomenten vast"),
        "en": ("Log your first learning moment", "Log {n} learning moments"),
    },
}

STREAK_PHRASES: dict[StreakMode, Phrases] = {
    StreakMode.WEEKLY: {
        "nl": ("Houd je weekreeks 1 week vol", "Houd je weekreeks {n} weken vol"),
        "en": (
            "Keep your weekly streak going for 1 week",
            "Keep your weekly streak going for {n} weeks",
        ),
    },
    StreakMode.DAILY: {
        "nl": ("Houd je dagreeks 1 dag vol", "Houd je dagreeks {n} dagen vol"),
        "en": (
            "Keep your daily streak going for 1 day",
            "Keep your daily streak going for {n} days",
        ),
    },
}

MINUTES_PHRASES: Phrases = {
    "nl": ("Leer in totaal 1 minuut", "Leer in totaal {n} minuten"),
    "en": ("Learn for 1 minute in total", "Learn for {n} minutes in total"),
}
HOURS_PHRASES: Phrases = {
    "nl": ("Leer in totaal 1 uur", "Leer in totaal {n} uur"),
    "en": ("Learn for 1 hour in total", "Learn for {n} hours in total"),
}


def language_of(locale: str | None) -> Language:
    """The badge text language for a user or organisation locale (Dutch unless English)."""
    return "en" if (locale or "").lower().startswith("en") else "nl"


def tier_label(tier: str, language: Language) -> str:
    """ "zilver" / "silver" for the tier ``silver``; unknown tier names stay as they are."""
    labels = TIER_LABELS.get(tier)
    if labels is None:
        return tier
    return labels[0] if language == "nl" else labels[1]


def localized(nl: str, en: str, language: Language) -> str:
    """The English text for English readers when there is one, else the Dutch text."""
    return en if language == "en" and en else nl


def _pick(phrases: Phrases, n: int, language: Language) -> str:
    one, many = phrases[language]
    return one if n == 1 else many.format(n=n)


def _qualifiers(criterion: BadgeCriterion, language: Language, competency_name: str | None) -> str:
    parts: list[str] = []
    if criterion.competency_id is not None:
        name = competency_name or f"#{criterion.competency_id}"
        parts.append(f"binnen {name}" if language == "nl" else f"in {name}")
    if criterion.course_ids:
        k = len(criterion.course_ids)
        if language == "nl":
            parts.append("uit 1 gekozen training" if k == 1 else f"uit {k} gekozen trainingen")
        else:
            parts.append("from 1 selected course" if k == 1 else f"from {k} selected courses")
    parts.extend(_window(criterion.starts_on, criterion.ends_on, language))
    return "".join(f" {p}" for p in parts)


def _window(starts_on: date | None, ends_on: date | None, language: Language) -> list[str]:
    if starts_on and ends_on:
        between = "tussen {} en {}" if language == "nl" else "between {} and {}"
        return [between.format(starts_on.isoformat(), ends_on.isoformat())]
    if starts_on:
        return [f"vanaf {starts_on}" if language == "nl" else f"from {starts_on} on"]
    if ends_on:
        return [f"tot en met {ends_on}" if language == "nl" else f"until {ends_on}"]
    return []


def how_to_earn(
    criterion: BadgeCriterion,
    threshold: int,
    language: Language,
    *,
    streak_mode: StreakMode = StreakMode.WEEKLY,
    competency_name: str | None = None,
) -> str:
    """A plain sentence saying what reaching ``threshold`` takes, e.g. "Rond 10 trainingen af".

    ``streak_mode`` is the organisation's (a streak badge counts weeks or days accordingly);
    ``competency_name`` names the criterion's competency, when it has one.
    """
    kind = criterion.kind
    if kind is CriterionKind.EVENT_COUNT:
        sentence = _pick(EVENT_COUNT_PHRASES[criterion.event_kind], threshold, language)
    elif kind is CriterionKind.TOTAL_MINUTES:
        if threshold % 60 == 0:
            sentence = _pick(HOURS_PHRASES, threshold // 60, language)
        else:
            sentence = _pick(MINUTES_PHRASES, threshold, language)
        if criterion.event_kind is not None:
            sentence += _minutes_event_kind(criterion.event_kind, language)
    elif kind is CriterionKind.STREAK_LENGTH:
        return _pick(STREAK_PHRASES[streak_mode], threshold, language)
    else:
        sentence = _pick(KIND_PHRASES[kind], threshold, language)
    if kind is CriterionKind.CHALLENGES_COMPLETED:
        return sentence  # challenges are not narrowed by competency, course or date
    return sentence + _qualifiers(criterion, language, competency_name)


_MINUTES_KIND: dict[EventKind, tuple[str, str]] = {
    EventKind.COMPLETION: ("met afgeronde trainingen", "in completed courses"),
    EventKind.PROGRESS: ("aan trainingen", "on courses"),
    EventKind.EXPERIENCE: ("in de praktijk", "on the job"),
    EventKind.INFORMAL: ("met leermomenten", "in learning moments"),
    EventKind.TESTIMONIAL: ("aan gedeelde ervaringen", "on testimonials"),
}


def _minutes_event_kind(event_kind: EventKind, language: Language) -> str:
    nl, en = _MINUTES_KIND[event_kind]
    return f" {nl}" if language == "nl" else f" {en}"


# (one, many) unit words of a measure's progress, per language
_UNITS: dict[str, Phrases] = {
    "hour": {"nl": ("uur", "uur"), "en": ("hour", "hours")},
    "minute": {"nl": ("minuut", "minuten"), "en": ("minute", "minutes")},
    "week": {"nl": ("week", "weken"), "en": ("week", "weeks")},
    "day": {"nl": ("dag", "dagen"), "en": ("day", "days")},
}


def progress_unit(criterion: BadgeCriterion, threshold: int, streak_mode: StreakMode) -> str:
    """The unit a tier's progress is counted in, as its sentence says it: ``hour`` when the
    sentence names hours, ``minute``, ``week`` or ``day``; ``""`` for a plain count."""
    if criterion.kind is CriterionKind.TOTAL_MINUTES:
        return "hour" if threshold % 60 == 0 else "minute"
    if criterion.kind is CriterionKind.STREAK_LENGTH:
        return "week" if streak_mode is StreakMode.WEEKLY else "day"
    return ""


@lru_cache(maxsize=4096, typed=True)
def _decimal(value: float, pattern: str, locale: str) -> str:
    """Babel's ``format_decimal``, kept: it parses the locale and the pattern per call, and a
    badge wall formats two numbers per locked tier."""
    return format_decimal(value, format=pattern, locale=locale)


def progress_text(
    criterion: BadgeCriterion,
    current: int,
    threshold: int,
    language: Language,
    *,
    streak_mode: StreakMode = StreakMode.WEEKLY,
) -> str:
    """How far a learner is towards ``threshold`` in the unit :func:`how_to_earn` names:
    "18,6 van 20 uur" / "18.6 of 20 hours" for an hours badge (``current`` is in minutes
    there), "3 van 4 weken", "7 van 10" for a count."""
    unit = progress_unit(criterion, threshold, streak_mode)
    locale = "nl_NL" if language == "nl" else "en_GB"
    done: int | float = current
    target = threshold
    if unit == "hour":
        done, target = round(current / 60, 1), threshold // 60
    done_text = _decimal(done, "#,##0.#", locale)
    target_text = _decimal(target, "#,##0", locale)
    of = "van" if language == "nl" else "of"
    text = f"{done_text} {of} {target_text}"
    if unit:
        one, many = _UNITS[unit][language]
        text += f" {one if target == 1 else many}"
    return text
