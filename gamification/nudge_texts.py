"""What a nudge says: short, warm texts in Dutch and English, a few variants per kind.

Texts never guilt-trip: they invite ("ten minutes is plenty"), celebrate and inform.
Each kind has 2-3 variants so the policy can learn which one helps people learn
(see ``gamification.nudge_policy.choose_variant``). Templates use ``str.format`` fields;
:func:`render` fills in derived fields (plurals, amounts) and never fails on a missing one.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LOCALES = ("nl", "en")
DEFAULT_LOCALE = "nl"


@dataclass(frozen=True)
class NudgeText:
    """A rendered message: what the notification shows."""

    title: str
    body: str


# kind -> variant -> locale -> (title, body)
TEXTS: dict[str, dict[str, dict[str, tuple[str, str]]]] = {
    "welcome": {
        "a": {
            "nl": (
                "Welkom bij {organisation}!",
                "Over {days_to_start} begin je. Kijk alvast rond in de catalogus.",
            ),
            "en": (
                "Welcome to {organisation}!",
                "You start in {days_to_start}. Have a look around the catalogue.",
            ),
        },
        "b": {
            "nl": (
                "Fijn dat je er bijna bent",
                "Ontdek nu al wat je bij {organisation} kunt leren.",
            ),
            "en": (
                "Great to have you soon",
                "Discover what you can learn at {organisation} already.",
            ),
        },
    },
    "reminder": {
        "a": {
            "nl": ("Tijd voor iets nieuws?", "Tien minuten leren is al genoeg voor vandaag."),
            "en": ("Time for something new?", "Ten minutes of learning is plenty for today."),
        },
        "b": {
            "nl": ("Even leren?", "Een korte video of een paar pagina's: jij kiest."),
            "en": ("A moment to learn?", "A short video or a few pages: your choice."),
        },
        "c": {
            "nl": ("Jouw leermoment", "Wat heb je vandaag geleerd? Leg het vast in een minuut."),
            "en": ("Your learning moment", "What did you learn today? Note it down in a minute."),
        },
    },
    "streak_at_risk": {
        "a": {
            "nl": (
                "Je reeks van {streak_length} loopt nog",
                "Een kort leermoment {deadline} houdt hem in stand.{freeze_note}",
            ),
            "en": (
                "Your streak of {streak_length} is still going",
                "A short learning moment {deadline} keeps it alive.{freeze_note}",
            ),
        },
        "b": {
            "nl": (
                "Houd je reeks vast",
                "{streak_length} op rij: mooi! Nog één leermoment {deadline}.{freeze_note}",
            ),
            "en": (
                "Keep your streak",
                "{streak_length} in a row: nice! One more learning moment {deadline}.{freeze_note}",
            ),
        },
    },
    "goal_behind": {
        "a": {
            "nl": (
                "Nog {minutes_left} tot je weekdoel",
                "Er is nog tijd genoeg deze week. Een kwartiertje helpt al.",
            ),
            "en": (
                "{minutes_left} to your weekly goal",
                "There is plenty of time left this week. Fifteen minutes helps.",
            ),
        },
        "b": {
            "nl": ("Halverwege de week", "Je weekdoel komt binnen bereik met {minutes_left}."),
            "en": (
                "Halfway through the week",
                "Your weekly goal is within reach: {minutes_left} to go.",
            ),
        },
    },
    "dated_goal_behind": {
        "a": {
            "nl": (
                "Je doel loopt wat achter",
                "{done} van {target} gedaan, nog {days_left}. Een kleine stap vandaag helpt.",
            ),
            "en": (
                "Your goal is falling behind",
                "{done} of {target} done, {days_left} left. A small step today helps.",
            ),
        },
        "b": {
            "nl": ("Nog {days_left} voor je doel", "{done} van {target} gedaan. Pak het weer op!"),
            "en": ("{days_left} left for your goal", "{done} of {target} done. Pick it up again!"),
        },
    },
    "goal_reached": {
        "a": {
            "nl": ("Weekdoel gehaald!", "{goal_minutes} geleerd deze week. Goed bezig!"),
            "en": ("Weekly goal reached!", "{goal_minutes} of learning this week. Well done!"),
        },
        "b": {
            "nl": ("Doel bereikt", "Je weekdoel van {goal_minutes} staat. Geniet ervan!"),
            "en": ("Goal reached", "Your weekly goal of {goal_minutes} is done. Enjoy it!"),
        },
    },
    "challenge_launched": {
        "a": {
            "nl": ("Nieuwe uitdaging: {challenge}", "Doe je mee? Elke bijdrage telt."),
            "en": ("New challenge: {challenge}", "Will you join? Every bit counts."),
        },
        "b": {
            "nl": ("{challenge} is begonnen", "Kijk wat er te winnen valt en doe mee."),
            "en": ("{challenge} has started", "See what it's about and join in."),
        },
    },
    "challenge_ending": {
        "a": {
            "nl": ("{challenge} eindigt morgen", "Nog een dag om mee te doen."),
            "en": ("{challenge} ends tomorrow", "One more day to take part."),
        },
        "b": {
            "nl": ("Laatste dag: {challenge}", "Een leermoment vandaag telt nog mee."),
            "en": ("Last day: {challenge}", "A learning moment today still counts."),
        },
    },
    "team_milestone": {
        "a": {
            "nl": ("{challenge}: {milestone}% gehaald", "Jullie team is op weg.{pledge_note}"),
            "en": ("{challenge}: {milestone}% done", "Your team is on its way.{pledge_note}"),
        },
        "b": {
            "nl": ("Teamwerk: {milestone}%", "{challenge} staat op {milestone}%.{pledge_note}"),
            "en": ("Teamwork: {milestone}%", "{challenge} is at {milestone}%.{pledge_note}"),
        },
    },
    "badge_earned": {
        "a": {
            "nl": ("Badge verdiend: {badge}", "Bekijk hem op je badgemuur."),
            "en": ("Badge earned: {badge}", "See it on your badge wall."),
        },
        "b": {
            "nl": ("Gefeliciteerd!", "Je hebt de badge {badge} verdiend."),
            "en": ("Congratulations!", "You earned the {badge} badge."),
        },
    },
    "level_up": {
        "a": {
            "nl": ("Niveau {level} bereikt!", "Al je leermomenten tellen op. Bekijk je voortgang."),
            "en": ("Level {level} reached!", "All your learning adds up. See your progress."),
        },
        "b": {
            "nl": ("Je bent nu niveau {level}", "Mooi zo! Blijf nieuwsgierig."),
            "en": ("You are now level {level}", "Nicely done! Stay curious."),
        },
    },
    "streak_milestone": {
        "a": {
            "nl": ("{streak_length} op rij!", "Zo groeit een leergewoonte. Ga zo door!"),
            "en": ("{streak_length} in a row!", "That is how a learning habit grows. Keep it up!"),
        },
        "b": {
            "nl": ("Mijlpaal: {streak_length}", "Je reeks staat op {streak_length}. Knap gedaan!"),
            "en": (
                "Milestone: {streak_length}",
                "Your streak has reached {streak_length}. Well done!",
            ),
        },
    },
    "kudos_received": {
        "a": {
            "nl": ("Kudos van {colleague}", "{colleague} heeft iets van je geleerd."),
            "en": ("Kudos from {colleague}", "{colleague} learned something from you."),
        },
        "b": {
            "nl": ("Je hebt een collega geholpen", "{colleague} bedankt je voor wat je deelde."),
            "en": ("You helped a colleague", "{colleague} thanks you for what you shared."),
        },
    },
    "budget_reminder": {
        "a": {
            "nl": (
                "Nog {budget} leerbudget",
                "Nog {months_left} in dit budgetjaar. Iets moois gezien?",
            ),
            "en": (
                "{budget} learning budget left",
                "{months_left} left in this budget year. Seen something nice?",
            ),
        },
        "b": {
            "nl": ("Je leerbudget staat klaar", "{budget} om te besteden, nog {months_left}."),
            "en": ("Your learning budget is ready", "{budget} to spend, {months_left} to go."),
        },
    },
    "budget_decision": {
        "a": {
            "nl": ("{course}: {decision}", "Nog {budget} leerbudget over dit budgetjaar."),
            "en": ("{course}: {decision}", "{budget} learning budget left this budget year."),
        },
        "b": {
            "nl": ("Je aanvraag is {decision}", "{course}. Je hebt nog {budget} leerbudget."),
            "en": ("Your request was {decision}", "{course}. You have {budget} budget left."),
        },
    },
    "new_course": {
        "a": {
            "nl": ("Nieuw: {course}", "Een nieuwe cursus in een gevraagde vaardigheid."),
            "en": ("New: {course}", "A new course in a skill in demand."),
        },
        "b": {
            "nl": ("Net toegevoegd", "{course}: een vaardigheid waar veel vraag naar is."),
            "en": ("Just added", "{course}: a skill many teams are asking for."),
        },
    },
    "testimonial_request": {
        "a": {
            "nl": ("Hoe was {course}?", "Help collega's kiezen met een paar woorden."),
            "en": ("How was {course}?", "Help colleagues choose with a few words."),
        },
        "b": {
            "nl": ("Tip voor je collega's?", "Vertel in een zin wat {course} je bracht."),
            "en": ("A tip for your colleagues?", "Say in one line what {course} gave you."),
        },
    },
    "next_step": {
        "a": {
            "nl": ("Je volgende stap: {course}", "{reason}. Een eerste kwartier is al een begin."),
            "en": (
                "Your next step: {course}",
                "{reason}. A first fifteen minutes is a fine start.",
            ),
        },
        "b": {
            "nl": ("Iets voor jou?", "{course}. {reason}."),
            "en": ("Something for you?", "{course}. {reason}."),
        },
    },
}

_UNITS: dict[str, dict[str, tuple[str, str]]] = {
    # unit -> locale -> (one, other)
    "day": {"nl": ("dag", "dagen"), "en": ("day", "days")},
    "week": {"nl": ("week", "weken"), "en": ("week", "weeks")},
    "minute": {"nl": ("minuut", "minuten"), "en": ("minute", "minutes")},
    "month": {"nl": ("maand", "maanden"), "en": ("month", "months")},
}


def count_phrase(count: int, unit: str, locale: str) -> str:
    """``3 dagen`` / ``1 day``: a count with its unit in the right plural."""
    one, other = _UNITS[unit][locale if locale in LOCALES else DEFAULT_LOCALE]
    return f"{count} {one if count == 1 else other}"


def format_euros(cents: int, locale: str) -> str:
    """Whole euros as the reader writes them: ``€ 1.250`` (nl), ``€1,250`` (en)."""
    euros = f"{cents // 100:,}"
    if locale == "en":
        return f"€{euros}"
    return "€ " + euros.replace(",", ".")


# kind -> locale -> variant -> (title, body): the texts an organisation's nudges use, its own
# variants over the built-in ones (see :func:`catalogue`)
TextCatalogue = Mapping[str, Mapping[str, Mapping[str, tuple[str, str]]]]

# the hard limits of the outbox row, and what most phones show in full
TITLE_MAX = 200
BODY_MAX = 500
TITLE_PUSH_FRIENDLY = 50
BODY_PUSH_FRIENDLY = 120

# the fields a template of each kind may use (what the kind's happening provides, readable)
PLACEHOLDERS: Mapping[str, tuple[str, ...]] = {
    "welcome": ("organisation", "days_to_start"),
    "reminder": (),
    "streak_at_risk": ("streak_length", "deadline", "freeze_note"),
    "goal_behind": ("minutes_left",),
    "dated_goal_behind": ("done", "target", "days_left"),
    "goal_reached": ("goal_minutes",),
    "challenge_launched": ("challenge",),
    "challenge_ending": ("challenge",),
    "team_milestone": ("challenge", "milestone", "pledge_note"),
    "badge_earned": ("badge",),
    "level_up": ("level",),
    "streak_milestone": ("streak_length",),
    "kudos_received": ("colleague",),
    "budget_reminder": ("budget", "months_left"),
    "budget_decision": ("course", "decision", "budget"),
    "new_course": ("course",),
    "testimonial_request": ("course",),
    "next_step": ("course", "reason"),
}

# raw parameters of an example happening per kind: what a preview ("send this nudge to me")
# fills in
SAMPLE_PARAMS: Mapping[str, Mapping[str, str | int]] = {
    "welcome": {"organisation": "", "days_to_start": 7},
    "reminder": {},
    "streak_at_risk": {"streak": 4, "streak_mode": "weekly", "freezes": 1, "days_needed": 2},
    "goal_behind": {"minutes_left": 45},
    "dated_goal_behind": {"done": 1, "target": 3, "days_left": 12},
    "goal_reached": {"goal_minutes": 120},
    "challenge_launched": {"challenge": "Kick-off"},
    "challenge_ending": {"challenge": "Kick-off"},
    "team_milestone": {
        "challenge": "Kick-off",
        "milestone": 50,
        "pledge": "pizza",
        "sponsor": "Mia",
    },
    "badge_earned": {"badge": "Finisher"},
    "level_up": {"level": 4},
    "streak_milestone": {"streak": 10, "streak_mode": "daily"},
    "kudos_received": {"colleague": "Sam"},
    "budget_reminder": {"budget_cents": 75_000, "months_left": 5},
    "budget_decision": {"course": "Excel basics", "approved": 1, "budget_cents": 60_000},
    "new_course": {"course": "Excel basics"},
    "testimonial_request": {"course": "Excel basics"},
    "next_step": {"course": "Excel basics", "reason": "A skill much in demand right now"},
}


def catalogue(
    own: Iterable[tuple[str, str, str, str, str, bool]] = (),
) -> dict[str, dict[str, dict[str, tuple[str, str]]]]:
    """The texts in use: the built-in variants, then an organisation's own rows
    ``(kind, variant, locale, title, body, retired)`` over them (a row with a built-in
    variant's name overrides its text; a retired one is left out)."""
    texts: dict[str, dict[str, dict[str, tuple[str, str]]]] = {
        kind: {
            locale: {variant: by_locale[locale] for variant, by_locale in by_variant.items()}
            for locale in LOCALES
        }
        for kind, by_variant in TEXTS.items()
    }
    for kind, variant, locale, title, body, retired in own:
        by_variant = texts.setdefault(kind, {}).setdefault(locale, {})
        if retired:
            by_variant.pop(variant, None)
        else:
            by_variant[variant] = (title, body)
    return texts


def variants(
    kind: str, locale: str = DEFAULT_LOCALE, texts: TextCatalogue | None = None
) -> tuple[str, ...]:
    """The text variants of ``kind`` in ``locale`` (e.g. ``("a", "b", "c")``); the built-in
    ones when ``texts`` has none (every variant of a kind and language retired)."""
    if texts is not None:
        found = texts.get(kind, {}).get(locale)
        if found:
            return tuple(found)
    return tuple(TEXTS[kind])


def placeholders_in(template: str) -> list[str]:
    """The ``{field}`` names of a template, in order; ``ValueError`` for a stray brace or a
    field with a conversion, format or index (``{x!r}``, ``{x:>5}``, ``{x.y}``)."""
    names: list[str] = []
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError("a { or } on its own") from exc
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(f"{{{shown}}}")
        names.append(name)
    return names


def unknown_placeholders(kind: str, template: str) -> list[str]:
    """The placeholders of ``template`` that ``kind`` does not provide (``ValueError`` as
    :func:`placeholders_in`)."""
    known = PLACEHOLDERS.get(kind, ())
    return [name for name in placeholders_in(template) if name not in known]


class _Lenient(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _derived(params: Mapping[str, str | int], locale: str) -> dict[str, str]:
    """Readable fields built from raw parameters (plurals, money, optional notes)."""
    out = {key: str(value) for key, value in params.items()}
    nl = locale == "nl"
    if "streak" in params:
        unit = "week" if params.get("streak_mode") == "weekly" else "day"
        out["streak_length"] = count_phrase(int(params["streak"]), unit, locale)
    if "freezes" in params:
        freezes = int(params["freezes"])
        if freezes > 0:
            out["freeze_note"] = (
                f" Je hebt {freezes} bevriezing{'' if freezes == 1 else 'en'} achter de hand."
                if nl
                else f" You have {freezes} freeze{'' if freezes == 1 else 's'} banked."
            )
    if "days_needed" in params:
        needed = int(params["days_needed"])
        if params.get("streak_mode") == "weekly" and needed > 1:
            out["deadline"] = (
                f"op {needed} dagen deze week" if nl else f"on {needed} days this week"
            )
        elif params.get("streak_mode") == "weekly":
            out["deadline"] = "deze week" if nl else "this week"
        else:
            out["deadline"] = "vandaag" if nl else "today"
    if "days_left" in params:
        out["days_left"] = count_phrase(int(params["days_left"]), "day", locale)
    if "minutes_left" in params:
        out["minutes_left"] = count_phrase(int(params["minutes_left"]), "minute", locale)
    if "goal_minutes" in params:
        out["goal_minutes"] = count_phrase(int(params["goal_minutes"]), "minute", locale)
    if "budget_cents" in params:
        out["budget"] = format_euros(int(params["budget_cents"]), locale)
    if "approved" in params:
        # 1: approved, 0: declined, 2: approved by the manager, L&D decides next
        step = int(params["approved"])
        decisions = (
            ("afgewezen", "goedgekeurd", "goedgekeurd door je manager, nu naar L&D")
            if nl
            else ("declined", "approved", "approved by your manager, now with L&D")
        )
        out["decision"] = decisions[step if step in (0, 1, 2) else 1]
    if "months_left" in params:
        out["months_left"] = count_phrase(int(params["months_left"]), "month", locale)
    if "days_to_start" in params:
        out["days_to_start"] = count_phrase(int(params["days_to_start"]), "day", locale)
    if params.get("pledge"):
        out["pledge_note"] = (
            f" Belofte van {params.get('sponsor', 'je manager')}: {params['pledge']}"
            if nl
            else f" {params.get('sponsor', 'Your manager')} pledged: {params['pledge']}"
        )
    return out


def render(
    kind: str,
    variant: str,
    locale: str,
    params: Mapping[str, str | int],
    texts: TextCatalogue | None = None,
) -> NudgeText:
    """The title and body of ``kind``/``variant`` in ``locale`` (Dutch when unknown), from
    ``texts`` (an organisation's :func:`catalogue`) or the built-in texts.

    Raw parameters: ``streak``, ``streak_mode``, ``freezes``, ``days_needed``,
    ``minutes_left``, ``goal_minutes``, ``challenge``, ``milestone``, ``pledge``, ``sponsor``,
    ``badge``, ``level``, ``colleague``, ``budget_cents``, ``months_left``, ``course``,
    ``organisation``, ``days_to_start``, ``reason`` (a recommendation's reason line, already
    in the learner's language).
    """
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    found = texts.get(kind, {}).get(locale) if texts is not None else None
    if found:
        title, body = found.get(variant) or next(iter(found.values()))
    else:
        by_variant = TEXTS[kind]
        title, body = (by_variant.get(variant) or next(iter(by_variant.values())))[locale]
    fields = _Lenient(_derived(params, locale))
    try:
        return NudgeText(
            " ".join(title.format_map(fields).split()), " ".join(body.format_map(fields).split())
        )
    except (ValueError, AttributeError, IndexError, KeyError):
        if texts is None:
            raise
        # an organisation's template is checked when saved; should one still be broken,
        # the learner gets the built-in text rather than nothing
        return render(kind, variant, locale, params)
