"""A realistic Dutch demo organisation: people, teams, a catalogue and a quarter of learning.

``seed_demo`` is idempotent (an existing demo organisation is left alone unless ``reset``)
and deterministic for a given ``seed`` and ``today``. The fictional company is
"Polderhaven Logistiek", a mid-size logistics firm with its own in-house academy.

The learning history goes through the same ingestion service and gamification engine as
live learning, so XP, levels, streaks, goals and badges are exactly what the rules give.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.passwords import hash_password
from backend.badges.defaults import ensure_default_badges
from backend.context import AppContext
from backend.db.models import (
    Challenge,
    Competency,
    Course,
    CourseCompetency,
    CourseFormat,
    EventKind,
    Kudos,
    LearnerState,
    LearningEvent,
    Locale,
    Nudge,
    Organisation,
    Role,
    Team,
    TeamMembership,
    User,
    XpLedgerEntry,
)
from backend.demo.budgets import seed_budgets
from backend.demo.job_families import seed_job_families
from backend.demo.praise import seed_team_praise
from backend.demo.recommendations import seed_recommendations
from backend.demo.team import seed_team
from backend.learning.adapters import demo_event
from backend.learning.service import record_events
from gamification import ChallengeDefinition, TeamChallenge, TeamTargetKind
from gamification import EventKind as GameEventKind
from gamification import LearnerState as EngineState
from gamification.engine import set_weekly_goal
from gamification.nudge_texts import render
from gamification.periods import week_start

DEMO_SLUG = "demo-polderhaven"
DEMO_ORG_NAME = "Polderhaven Logistiek"
DEMO_DOMAIN = "polderhaven.nl"
DEMO_PASSWORD = "leren-is-leuk"
DEMO_TZ = "Europe/Amsterdam"
ACADEMY = "Polderhaven Academie"
ACADEMY_URL = f"https://academie.{DEMO_DOMAIN}"

ORG_SETTINGS: dict[str, Any] = {
    "streak_mode": "weekly",
    "streak_days_per_week": 3,
    "min_group_size": 5,
    "yearly_budget_cents": 150000,
    "budget_year_start_month": 1,
}

HISTORY_WEEKS = 12  # the current (partial) ISO week plus the eleven before it (a quarter)
MAX_EVENT_MINUTES = 180  # a 16-hour classroom course is not one sitting


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    display_name: str


@dataclass(frozen=True)
class DemoResult:
    organisation_id: int
    organisation_name: str
    counts: dict[str, int]
    logins: list[DemoLogin]
    created: bool = True


# --------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------

# (first name, surname) of the three accounts printed for the demo; fixed across seeds
EMPLOYEE_PERSONA = ("Sanne", "de Vries")
MANAGER_PERSONA = ("Mehmet", "Yılmaz")
LD_ADMIN_PERSONA = ("Anouk", "Jansen")
PERSONA_TEAM = "Planning"  # the demo employee's team, managed by the demo manager

# team name -> headcount including its manager (the L&D admin sits outside the teams)
TEAMS: dict[str, int] = {
    "Planning": 10,
    "Klantenservice": 11,
    "Magazijn": 13,
    "Finance": 7,
    "IT": 8,
    "Sales": 10,
}
# the job family each team's people work in (insights: learning in or outside it)
TEAM_FAMILIES = {
    "Planning": "Logistiek",
    "Magazijn": "Logistiek",
    "Klantenservice": "Klantenservice",
    "Finance": "Finance",
    "IT": "IT",
    "Sales": "Commercie",
}
# a course is made for the family of its first competency; the rest are for everyone
COMPETENCY_FAMILIES = {
    "klant": "Klantenservice",
    "veiligheid": "Logistiek",
    "duurzaam": "Logistiek",
    "digitaal": "IT",
    "data_ai": "Finance",
}

# fmt: off
_DUTCH_FIRST = [
    "Lotte", "Emma", "Julia", "Fleur", "Iris", "Lisa", "Eva", "Femke", "Marieke", "Ingrid",
    "Petra", "Monique", "Esther", "Karin", "Wendy", "Linda", "Sophie", "Noor", "Hanneke",
    "Marloes", "Ilse", "Joyce", "Chantal", "Rianne", "Mirjam", "Sietske", "Daan", "Bram",
    "Thijs", "Jeroen", "Bas", "Ruben", "Joost", "Maarten", "Pieter", "Sander", "Niels",
    "Wouter", "Gert-Jan", "Henk", "Kees", "Ton", "Erik", "Martijn", "Luuk", "Stijn", "Koen",
    "Jasper", "Rick", "Dennis", "Willem", "Frank", "Arjen", "Jelle", "Tjeerd", "Zoë", "René",
]
_DUTCH_LAST = [
    "de Jong", "Jansen", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit",
    "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks",
    "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf",
    "van der Meer", "van der Linden", "Kok", "Jacobs", "de Haan", "Vermeulen",
    "van den Heuvel", "van der Veen", "van den Broek", "de Bruijn", "van der Heijden",
    "Schouten", "van Beek", "Willems", "van Vliet", "Hoekstra", "Maas", "Verhoeven",
    "Koster", "Prins", "Blom", "Huisman", "Kuipers", "Postma", "Bosman", "Timmermans",
]
_TURKISH_FIRST = ["Emre", "Burak", "Kerem", "Hakan", "Murat", "Elif", "Zeynep", "Ayşe", "Esra",
                  "Büşra", "Merve", "Özlem", "Serkan", "Yusuf"]
_TURKISH_LAST = ["Kaya", "Demir", "Şahin", "Çelik", "Öztürk", "Aydın", "Arslan", "Doğan",
                 "Koç", "Kılıç", "Özdemir", "Yıldız"]
_MOROCCAN_FIRST = ["Mohamed", "Youssef", "Said", "Karim", "Anouar", "Bilal", "Nordin",
                   "Fatima", "Khadija", "Samira", "Naima", "Soufiane", "Imane", "Loubna",
                   "Hanan", "Ilias"]
_MOROCCAN_LAST = ["El Amrani", "Bouzid", "El Idrissi", "Ait Taleb", "Benali", "Azzouzi",
                  "El Khattabi", "Boukhari", "Ouali", "Chaoui", "Tahiri", "Ziani"]
_HINDUSTANI_FIRST = ["Ravi", "Sunita", "Kavita", "Rajesh", "Priya", "Ashwin", "Shanti"]
_HINDUSTANI_LAST = ["Ramdin", "Jagessar", "Soekhoe", "Bisoendat", "Ramsaran", "Doekhie",
                    "Girjasing"]
_CREOLE_FIRST = ["Sharon", "Marvin", "Gregory", "Natasha", "Romano", "Giovanni", "Shirley"]
_CREOLE_LAST = ["Pinas", "Sedney", "Brunings", "Leeflang", "Doelwijt", "Tjon A Fat",
                "Kartosen", "Martina"]
# expats working in English; (first, last) pairs so names stay plausible together
_EXPATS = [
    ("Tomasz", "Wiśniewski"), ("Anna", "Kowalska"), ("Laura", "García"), ("James", "O'Connor"),
    ("Arjun", "Nair"), ("Chloé", "Martin"), ("Lukas", "Schneider"), ("Marta", "Nowak"),
]
# fmt: on

# background -> (first names, surnames, how many of the generated colleagues)
_BACKGROUNDS: list[tuple[list[str], list[str], int]] = [
    (_DUTCH_FIRST, _DUTCH_LAST, 36),
    (_TURKISH_FIRST, _TURKISH_LAST, 6),
    (_MOROCCAN_FIRST, _MOROCCAN_LAST, 6),
    (_HINDUSTANI_FIRST, _HINDUSTANI_LAST, 3),
    (_CREOLE_FIRST, _CREOLE_LAST, 2),
]
_EXPAT_COUNT = 4
_NEW_HIRES = 2

# letters NFKD does not reduce to ASCII
_ASCII_EXTRA = str.maketrans({"ı": "i", "ł": "l", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe"})


def email_local_part(first: str, last: str) -> str:
    """``voornaam.achternaam``: lowercase ASCII, tussenvoegsels and spaces joined."""

    def clean(text: str) -> str:
        text = unicodedata.normalize("NFKD", text.lower().translate(_ASCII_EXTRA))
        text = text.encode("ascii", "ignore").decode()
        return re.sub(r"[^a-z0-9-]", "", text)

    return f"{clean(first)}.{clean(last)}"


@dataclass
class _Person:
    first: str
    last: str
    locale: str = Locale.nl.value
    roles: tuple[str, ...] = (Role.employee.value,)
    team: str | None = None
    is_manager: bool = False
    profile: str = "inactive"
    start_date: date | None = None
    user: User | None = None

    @property
    def display_name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def email(self) -> str:
        return f"{email_local_part(self.first, self.last)}@{DEMO_DOMAIN}"


def _people(rng: random.Random, today: date) -> list[_Person]:
    employee = _Person(*EMPLOYEE_PERSONA, team=PERSONA_TEAM, profile="persona")
    manager = _Person(
        *MANAGER_PERSONA,
        roles=(Role.employee.value, Role.manager.value),
        team=PERSONA_TEAM,
        is_manager=True,
        profile="regular",
    )
    ld_admin = _Person(
        *LD_ADMIN_PERSONA, roles=(Role.employee.value, Role.ld_admin.value), profile="fanatic"
    )
    people = [employee, manager, ld_admin]
    taken = {p.email for p in people}

    def add(first: str, last: str, locale: str) -> None:
        person = _Person(first, last, locale=locale)
        if person.email not in taken:
            taken.add(person.email)
            people.append(person)

    for firsts, lasts, count in _BACKGROUNDS:
        target = len(people) + count
        while len(people) < target:
            add(rng.choice(firsts), rng.choice(lasts), Locale.nl.value)
    for first, last in rng.sample(_EXPATS, _EXPAT_COUNT):
        add(first, last, Locale.en.value)

    # fill the teams: each team's first seat is its manager
    others = people[3:]
    rng.shuffle(others)
    seats = iter(others)
    for team, size in TEAMS.items():
        members = 2 if team == PERSONA_TEAM else 0  # persona employee and manager
        while members < size:
            person = next(seats)
            person.team = team
            if members == 0:
                person.is_manager = True
                person.roles = (Role.employee.value, Role.manager.value)
            members += 1
    assert next(seats, None) is None, "team sizes must add up to the generated people"

    # activity profiles: about 70% of people learned something in the last weeks
    profiles = ["fanatic", "regular", "casual", "lapsed", "inactive"]
    weights = [12, 33, 15, 10, 30]
    for person in others:
        person.profile = rng.choices(profiles, weights)[0]
    for person in people:
        years_back = min(rng.expovariate(1 / 4.5), 28)
        person.start_date = today - timedelta(days=60 + int(years_back * 365))
    # two new hires start within the coming two weeks and have no history yet
    for person in rng.sample([p for p in others if not p.is_manager], _NEW_HIRES):
        person.start_date = today + timedelta(days=rng.randint(3, 14))
        person.profile = "inactive"
    # a few colleagues joined during the history window
    for person in rng.sample([p for p in others if p.profile in {"regular", "casual"}], 2):
        person.start_date = today - timedelta(days=rng.randint(10, 20))
    return people


# --------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------

COMPETENCIES: dict[str, tuple[str, str]] = {
    "data_ai": (
        "Data & AI",
        "Werken met data en AI-tools: van Excel-dashboards tot verantwoord gebruik van "
        "generatieve AI in je dagelijkse werk.",
    ),
    "communicatie": (
        "Communicatie",
        "Helder schrijven, goed luisteren en feedback geven, zodat collega's en klanten "
        "weten waar ze aan toe zijn.",
    ),
    "leiderschap": (
        "Leiderschap",
        "Richting geven, coachen en vertrouwen opbouwen, met of zonder formele leidinggevende rol.",
    ),
    "veiligheid": (
        "Veiligheid",
        "Veilig werken in magazijn, op de weg en online: van VCA en BHV tot het herkennen "
        "van phishing.",
    ),
    "klant": (
        "Klantgerichtheid",
        "De vraag achter de vraag van de klant zien en problemen oplossen voordat ze "
        "klachten worden.",
    ),
    "project": (
        "Projectmatig werken",
        "Plannen, prioriteren en samenwerken in projecten, agile of klassiek.",
    ),
    "digitaal": (
        "Digitale vaardigheden",
        "Zelfverzekerd werken met ons WMS, Microsoft 365 en andere digitale tools.",
    ),
    "duurzaam": (
        "Duurzaamheid",
        "Minder uitstoot en verspilling in de keten: duurzaam rijden, plannen en "
        "rapporteren (CSRD).",
    ),
}

# provider -> short code for external ids
PROVIDERS = {
    "GoodHabitz": "GH",
    "LinkedIn Learning": "LIL",
    "NCOI": "NCOI",
    "Springest": "SPR",
    "Coursera": "COU",
    "Boom uitgevers": "BOOM",
    ACADEMY: "PHA",
}

_F = CourseFormat
# title, description, provider, format, minutes, cost in cents, hot skill, competencies
# fmt: off
COURSES: list[tuple[str, str, str, CourseFormat, int, int, bool, tuple[str, ...]]] = [
    ("AI op de werkvloer: slim werken met ChatGPT en Copilot",
     "Ontdek hoe generatieve AI je helpt bij mails, samenvattingen en planningen, en waar je beter zelf nadenkt.",
     "GoodHabitz", _F.elearning, 45, 0, True, ("data_ai", "digitaal")),
    ("Prompten voor beginners",
     "Korte video's over het schrijven van goede prompts, met voorbeelden uit de logistiek.",
     "LinkedIn Learning", _F.video, 30, 0, True, ("data_ai",)),
    ("Data-analyse met Excel en Power BI",
     "Tweedaagse training: van ruwe data naar een dashboard waar je team echt iets aan heeft.",
     "NCOI", _F.classroom, 960, 189500, True, ("data_ai", "digitaal")),
    ("Power BI-dashboards bouwen",
     "Stap voor stap een rapport bouwen, delen en automatisch laten verversen.",
     "LinkedIn Learning", _F.video, 150, 0, False, ("data_ai",)),
    ("Verantwoord omgaan met AI en de AI Act",
     "Wat mag wel en niet met klant- en personeelsdata in AI-tools? Met ons eigen AI-beleid.",
     ACADEMY, _F.webinar, 60, 0, True, ("data_ai",)),
    ("Python voor data-analisten",
     "Online cursus in eigen tempo: pandas, grafieken en je eerste geautomatiseerde rapport.",
     "Coursera", _F.elearning, 600, 4900, False, ("data_ai", "digitaal")),
    ("Duurzame logistiek: CO₂-reductie in de keten",
     "Praktijkdag over emissies meten, routes optimaliseren en zero-emissiezones.",
     "Springest", _F.classroom, 480, 79500, True, ("duurzaam",)),
    ("CSRD in de praktijk",
     "Wat betekent de Europese rapportageplicht voor ons en onze klanten?",
     "NCOI", _F.webinar, 120, 24500, True, ("duurzaam",)),
    ("Het Nieuwe Rijden voor chauffeurs en planners",
     "Zuiniger en veiliger rijden, en plannen zodat chauffeurs dat ook kunnen.",
     ACADEMY, _F.workshop, 180, 0, False, ("duurzaam", "veiligheid")),
    ("Duurzaamheid in 10 minuten per dag",
     "Korte lessen over kleine keuzes met grote impact, thuis en op het werk.",
     "GoodHabitz", _F.elearning, 10, 0, False, ("duurzaam",)),
    ("Effectief communiceren",
     "Afstemmen op je gesprekspartner, actief luisteren en duidelijk overbrengen wat je bedoelt.",
     "GoodHabitz", _F.elearning, 40, 0, False, ("communicatie",)),
    ("Feedback geven en ontvangen",
     "Feedback die helpt in plaats van kwetst, en er zelf iets mee doen.",
     "GoodHabitz", _F.elearning, 35, 0, False, ("communicatie", "leiderschap")),
    ("Zakelijk schrijven: heldere mails en rapporten",
     "Schrijf korter, duidelijker en klantvriendelijker, op B1-niveau.",
     "NCOI", _F.elearning, 240, 39500, False, ("communicatie",)),
    ("Presenteren met impact",
     "Workshop met oefenen op camera: structuur, stem en omgaan met zenuwen.",
     "Springest", _F.workshop, 420, 69500, False, ("communicatie",)),
    ("Lastige gesprekken voeren",
     "Hoe blijf je rustig en duidelijk als het gesprek spannend wordt?",
     "LinkedIn Learning", _F.video, 55, 0, False, ("communicatie", "klant")),
    ("Geweldloze communicatie",
     "Het klassieke boek over verbindend communiceren, met een leesgids van de Academie.",
     "Boom uitgevers", _F.book, 360, 2999, False, ("communicatie",)),
    ("Van collega naar leidinggevende",
     "Leergang voor nieuwe teamleiders: je rol, je team en jezelf.",
     "NCOI", _F.classroom, 960, 245000, False, ("leiderschap",)),
    ("Situationeel leiderschap",
     "Stem je stijl af op wat een medewerker nodig heeft, per taak.",
     "Springest", _F.classroom, 720, 129500, False, ("leiderschap",)),
    ("Coachend leidinggeven",
     "Drie coachingsessies met een interne coach rond je eigen leervraag.",
     ACADEMY, _F.coaching, 90, 0, False, ("leiderschap", "communicatie")),
    ("Hybride teams aansturen",
     "Verbinding en resultaat als je team deels thuis en deels op locatie werkt.",
     "LinkedIn Learning", _F.video, 70, 0, False, ("leiderschap",)),
    ("Verzuimgesprekken voeren",
     "Wet verbetering poortwachter, je rol als leidinggevende en het goede gesprek.",
     "NCOI", _F.webinar, 90, 14500, False, ("leiderschap",)),
    ("VCA Basis",
     "Basisveiligheid voor iedereen die op de vloer of bij klanten werkt, met examen.",
     "Springest", _F.classroom, 480, 24900, False, ("veiligheid",)),
    ("Veilig werken met de heftruck (herhaling)",
     "Jaarlijkse herhaling met praktijkdeel in ons eigen magazijn.",
     ACADEMY, _F.classroom, 240, 0, False, ("veiligheid",)),
    ("BHV-herhalingstraining",
     "Eerste hulp, brand blussen en ontruimen: jaarlijks je BHV-certificaat verlengen.",
     "Springest", _F.classroom, 480, 18500, False, ("veiligheid",)),
    ("Ergonomisch tillen en werken",
     "Voorkom rug- en schouderklachten in het magazijn en achter het bureau.",
     "GoodHabitz", _F.elearning, 25, 0, False, ("veiligheid",)),
    ("Cybersecurity awareness: phishing herkennen",
     "Verplichte module: herken nepmails, nepfacturen en CEO-fraude.",
     ACADEMY, _F.elearning, 20, 0, False, ("veiligheid", "digitaal")),
    ("Veiligheidsmoment: het laad- en losperron",
     "Korte video over de vijf meest voorkomende risico's bij het docken.",
     ACADEMY, _F.video, 10, 0, False, ("veiligheid",)),
    ("Klantgericht werken aan de telefoon",
     "Van eerste begroeting tot heldere afspraak, ook als de klant boos is.",
     "GoodHabitz", _F.elearning, 30, 0, False, ("klant", "communicatie")),
    ("Klachten ombuigen naar kansen",
     "Workshop met acteurs: klachten afhandelen zodat de klant blijft.",
     "NCOI", _F.workshop, 360, 49500, False, ("klant",)),
    ("Customer journey mapping",
     "Breng in kaart wat onze klanten meemaken, van offerte tot levering.",
     "LinkedIn Learning", _F.video, 80, 0, False, ("klant", "project")),
    ("Gastvrijheid in B2B-service",
     "Wat de hotellerie ons leert over service aan zakelijke klanten.",
     "Springest", _F.workshop, 240, 34500, False, ("klant",)),
    ("Projectmatig werken: de basis",
     "Doelen, planning en stakeholders: grip op je eerste project.",
     "GoodHabitz", _F.elearning, 45, 0, False, ("project",)),
    ("Scrum en agile werken",
     "Sprints, stand-ups en retrospectives, toegepast buiten de IT.",
     "LinkedIn Learning", _F.video, 120, 0, False, ("project", "digitaal")),
    ("PRINCE2 Foundation",
     "Erkende projectmanagementmethode, inclusief examen.",
     "NCOI", _F.classroom, 960, 165000, False, ("project",)),
    ("Lean Six Sigma Yellow Belt",
     "Verspilling in processen zien en wegnemen, met een verbeterproject uit je eigen werk.",
     "Springest", _F.classroom, 960, 89500, False, ("project", "duurzaam")),
    ("Excel: van basis tot draaitabellen",
     "Formules, filters en draaitabellen voor de weekplanning en rapportages.",
     "GoodHabitz", _F.elearning, 60, 0, False, ("digitaal", "data_ai")),
    ("Slimmer samenwerken in Microsoft Teams",
     "Kanalen, bestanden en vergaderen zonder mailchaos.",
     "LinkedIn Learning", _F.video, 40, 0, False, ("digitaal",)),
    ("Ons WMS: nieuwe functies in de planningstool",
     "Live demo van de nieuwste release van ons warehouse management systeem.",
     ACADEMY, _F.webinar, 45, 0, False, ("digitaal",)),
    ("Podcast De Laadklep: innovatie in de logistiek",
     "Collega's en klanten over elektrisch rijden, robotisering en slimme sensoren.",
     ACADEMY, _F.podcast, 35, 0, False, ("duurzaam", "digitaal")),
    ("Timemanagement en focus",
     "Plan je dag, bescherm je focustijd en zeg vaker nee.",
     "GoodHabitz", _F.elearning, 30, 0, False, ("project",)),
]
# fmt: on

INFORMAL_NL: list[tuple[str, str]] = [
    ("Collega liet me de nieuwe planningstool zien", "digitaal"),
    ("Meegelopen met de klantenservice", "klant"),
    ("Artikel gelezen over elektrische vrachtwagens", "duurzaam"),
    ("Toolboxmeeting over veilig laden en lossen", "veiligheid"),
    ("Feedbackgesprek met mijn teamleider", "communicatie"),
    ("ChatGPT gebruikt om een klantmail op te stellen", "data_ai"),
    ("Retrospective met het team gedaan", "project"),
    ("Lunchlezing over de CSRD bijgewoond", "duurzaam"),
    ("Nieuwe collega ingewerkt op het WMS", "leiderschap"),
    ("Power BI-truc geleerd van een collega", "data_ai"),
    ("Klantbezoek voorbereid met sales", "klant"),
    ("Podcast over leiderschap geluisterd", "leiderschap"),
    ("Excel-formules uitgezocht voor de weekplanning", "digitaal"),
    ("Bijna-ongeval besproken in het teamoverleg", "veiligheid"),
    ("Intervisie met andere teamleiders", "leiderschap"),
    ("Mentorgesprek over presenteren", "communicatie"),
]
INFORMAL_EN: list[tuple[str, str]] = [
    ("Colleague showed me the new planning tool", "digitaal"),
    ("Shadowed a customer service call", "klant"),
    ("Read an article about electric trucks", "duurzaam"),
    ("Learned a Power BI trick from a colleague", "data_ai"),
    ("Joined the toolbox talk on safe loading", "veiligheid"),
    ("Practised my Dutch at the coffee machine", "communicatie"),
]

# what each team tends to learn about (managers add leadership)
TEAM_FOCUS: dict[str, set[str]] = {
    "Planning": {"project", "digitaal", "data_ai"},
    "Klantenservice": {"klant", "communicatie"},
    "Magazijn": {"veiligheid", "duurzaam"},
    "Finance": {"data_ai", "digitaal"},
    "IT": {"data_ai", "digitaal", "project"},
    "Sales": {"klant", "communicatie"},
}


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower().replace("₂", "2"))
    text = text.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


# --------------------------------------------------------------------------------------
# Simple learner-state derivation (placeholder: the gamification engine recomputes it)
# --------------------------------------------------------------------------------------


def _history_weeks(today: date) -> list[list[date]]:
    """Days of the last ``HISTORY_WEEKS`` ISO weeks, the current one cut off at ``today``."""
    first_monday = week_start(today) - timedelta(weeks=HISTORY_WEEKS - 1)
    weeks = []
    for w in range(HISTORY_WEEKS):
        monday = first_monday + timedelta(weeks=w)
        weeks.append(
            [monday + timedelta(days=d) for d in range(7) if monday + timedelta(days=d) <= today]
        )
    return weeks


def _active_days(person: _Person, rng: random.Random, today: date) -> set[date]:
    weeks = _history_weeks(today)
    chosen: set[date] = set()
    assert person.start_date is not None
    for index, days in enumerate(weeks):
        current = index == len(weeks) - 1
        workdays = [d for d in days if d.weekday() < 5 and d >= person.start_date]
        weekend = [d for d in days if d.weekday() >= 5 and d >= person.start_date]
        if person.profile == "persona":
            # the demo employee: a live streak and something already done this week
            if current:
                picks = {today}
                earlier = [d for d in workdays if d < today]
                if earlier:
                    picks.add(rng.choice(earlier))
                chosen |= picks
                continue
            wanted = rng.choice([3, 3, 4])
        elif person.profile == "fanatic":
            wanted = rng.randint(3, 5)
            if weekend and rng.random() < 0.3:
                chosen.add(rng.choice(weekend))
        elif person.profile == "regular":
            wanted = 3 if rng.random() < 0.75 else 2
        elif person.profile == "casual":
            wanted = rng.choice([0, 1, 1, 2])
        elif person.profile == "lapsed":
            wanted = rng.choice([2, 3]) if index < 2 else 0
        else:
            wanted = 0
        if current:
            # the week is still running: scale the target to the days already gone
            wanted = round(wanted * len(days) / 7)
        chosen |= set(rng.sample(workdays, min(wanted, len(workdays))))
    return chosen


def _moment(day: date, rng: random.Random, not_after: datetime | None) -> datetime:
    """An aware UTC instant during Amsterdam working hours on ``day`` (never in the future)."""
    zone = ZoneInfo(DEMO_TZ)
    if day.weekday() < 5:
        minute_of_day = rng.randint(8 * 60, 17 * 60 + 30)
    else:
        minute_of_day = rng.randint(10 * 60, 16 * 60)
    local = datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60), tzinfo=zone)
    moment = local.astimezone(UTC)
    if not_after is not None and moment > not_after:
        day_start = datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)
        moment = max(day_start, not_after - timedelta(minutes=rng.randint(5, 60)))
    return moment


def _course_weight(course: Course, competencies: set[str], person: _Person) -> float:
    focus = TEAM_FOCUS.get(person.team or "", set())
    if Role.manager.value in person.roles:
        focus = focus | {"leiderschap"}
    if Role.ld_admin.value in person.roles:
        focus = focus | {"leiderschap", "communicatie"}
    weight = 1.0 + (2.0 if course.hot_skill else 0.0) + (2.0 if competencies & focus else 0.0)
    if course.duration_minutes >= 480:
        weight *= 0.3  # multi-day training is rarer than a quick module
    return weight


# --------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------


def demo_logins() -> list[DemoLogin]:
    personas = [
        (Role.employee.value, EMPLOYEE_PERSONA),
        (Role.manager.value, MANAGER_PERSONA),
        (Role.ld_admin.value, LD_ADMIN_PERSONA),
    ]
    return [
        DemoLogin(
            role=role,
            email=_Person(first, last).email,
            password=DEMO_PASSWORD,
            display_name=_Person(first, last).display_name,
        )
        for role, (first, last) in personas
    ]


def amsterdam_today() -> date:
    return datetime.now(ZoneInfo(DEMO_TZ)).date()


async def _demo_org(session: AsyncSession) -> Organisation | None:
    return (await session.exec(select(Organisation).where(Organisation.slug == DEMO_SLUG))).first()


async def demo_exists(ctx: AppContext) -> bool:
    async with ctx.sessionmaker() as session:
        return await _demo_org(session) is not None


COUNTED: dict[str, Any] = {
    "users": User,
    "teams": Team,
    "team_memberships": TeamMembership,
    "competencies": Competency,
    "courses": Course,
    "course_competencies": CourseCompetency,
    "learning_events": LearningEvent,
    "xp_ledger_entries": XpLedgerEntry,
    "learner_states": LearnerState,
}


async def _counts(session: AsyncSession, organisation_id: int) -> dict[str, int]:
    counts = {}
    for name, model in COUNTED.items():
        query = (
            select(func.count()).select_from(model).where(model.organisation_id == organisation_id)
        )
        counts[name] = int((await session.exec(query)).one())
    return counts


async def seed_demo(
    ctx: AppContext, *, today: date | None = None, reset: bool = False, seed: int = 7
) -> DemoResult:
    """Create the demo organisation (or return the existing one; ``reset`` recreates it)."""
    today = today or amsterdam_today()
    async with ctx.sessionmaker() as session, session.begin():
        existing = await _demo_org(session)
        if existing is not None and not reset:
            assert existing.id is not None
            return DemoResult(
                organisation_id=existing.id,
                organisation_name=existing.name,
                counts=await _counts(session, existing.id),
                logins=demo_logins(),
                created=False,
            )
        if existing is not None:
            # ON DELETE CASCADE removes every row of the organisation
            await session.exec(delete(Organisation).where(col(Organisation.id) == existing.id))
            session.expunge(existing)
        org_id = await _create(session, ctx, today=today, rng=random.Random(seed))
        counts = await _counts(session, org_id)
    return DemoResult(
        organisation_id=org_id,
        organisation_name=DEMO_ORG_NAME,
        counts=counts,
        logins=demo_logins(),
    )


async def _create(
    session: AsyncSession, ctx: AppContext, *, today: date, rng: random.Random
) -> int:
    org = Organisation(
        name=DEMO_ORG_NAME,
        slug=DEMO_SLUG,
        default_timezone=DEMO_TZ,
        default_locale=Locale.nl.value,
        settings=dict(ORG_SETTINGS),
    )
    session.add(org)
    await session.flush()
    assert org.id is not None
    org_id = org.id

    # Every demo user shares one password, so hash it once: argon2 is slow on purpose and
    # sixty separate hashes would take seconds for no benefit in a demo.
    password_hash = hash_password(DEMO_PASSWORD, ctx.settings.password_cost)

    people = _people(rng, today)
    for person in people:
        person.user = User(
            organisation_id=org_id,
            email=person.email,
            display_name=person.display_name,
            password_hash=password_hash,
            roles=list(person.roles),
            timezone=DEMO_TZ,
            locale=person.locale,
            start_date=person.start_date,
            job_family=TEAM_FAMILIES.get(person.team or "", "L&D"),
            # the demo shows a learner in full swing; Settings still offers the introduction
            onboarded_at=datetime.now(UTC),
        )
    teams = {name: Team(organisation_id=org_id, name=name) for name in TEAMS}
    competencies = {
        key: Competency(organisation_id=org_id, name=name, description=description)
        for key, (name, description) in COMPETENCIES.items()
    }
    courses: list[tuple[Course, tuple[str, ...]]] = []
    for number, (title, description, provider, fmt, minutes, cost, hot, keys) in enumerate(
        COURSES, 1
    ):
        slug = _slug(title)
        course = Course(
            organisation_id=org_id,
            title=title,
            description=description,
            provider=provider,
            format=fmt.value,
            duration_minutes=minutes,
            cost_cents=cost,
            url=f"{ACADEMY_URL}/catalogus/{slug}",
            external_id=f"{PROVIDERS[provider]}-{1000 + number}",
            xapi_activity_id=f"{ACADEMY_URL}/xapi/activities/{slug}",
            hot_skill=hot,
            job_family=COMPETENCY_FAMILIES.get(keys[0]) if keys else None,
        )
        courses.append((course, keys))
    session.add_all([p.user for p in people if p.user is not None])
    session.add_all(teams.values())
    session.add_all(competencies.values())
    session.add_all([course for course, _ in courses])
    await session.flush()

    memberships = [
        TeamMembership(
            team_id=_id(teams[p.team].id),
            user_id=_id(p.user.id),
            organisation_id=org_id,
            is_manager=p.is_manager,
        )
        for p in people
        if p.team is not None and p.user is not None
    ]
    links = [
        CourseCompetency(
            course_id=_id(course.id),
            competency_id=_id(competencies[key].id),
            organisation_id=org_id,
        )
        for course, keys in courses
        for key in keys
    ]
    session.add_all(memberships)
    session.add_all(links)

    # learning history
    not_after = datetime.now(UTC) if today == amsterdam_today() else None
    drafts: list[tuple[datetime, int, dict[str, Any]]] = []
    for index, person in enumerate(people):
        assert person.user is not None and person.user.id is not None
        if person.start_date is None or person.start_date > today:
            continue
        available = [(c, set(keys)) for c, keys in courses]
        informal = INFORMAL_EN if person.locale == Locale.en.value else INFORMAL_NL
        for day in sorted(_active_days(person, rng, today)):
            for _ in range(2 if rng.random() < 0.2 else 1):
                occurred = _moment(day, rng, not_after)
                if available and rng.random() < 0.7:
                    weights = [_course_weight(c, keys, person) for c, keys in available]
                    course, _keys = available.pop(rng.choices(range(len(available)), weights)[0])
                    fields: dict[str, Any] = {
                        "kind": EventKind.completion.value,
                        "course_id": course.id,
                        "activity_id": course.xapi_activity_id,
                        "title": course.title,
                        "minutes": min(course.duration_minutes, MAX_EVENT_MINUTES),
                    }
                else:
                    title, key = rng.choice(informal)
                    fields = {
                        "kind": EventKind.informal.value,
                        "competency_id": competencies[key].id,
                        "title": title,
                        "minutes": rng.choice([5, 10, 15, 15, 20, 30, 45]),
                    }
                drafts.append((occurred, index, fields))

    drafts.sort(key=lambda d: (d[0], d[1]))
    # the badges exist before the history, so the demo learners earn them as anyone would
    await ensure_default_badges(session, org_id)
    goals = [60] * 7 + [90] * 2 + [120]
    for person in people:
        assert person.user is not None and person.user.id is not None
        goal_state = set_weekly_goal(EngineState(), rng.choice(goals))
        session.add(
            LearnerState(user_id=person.user.id, organisation_id=org_id, data=goal_state.to_dict())
        )
    await session.flush()
    user_ids = [_id(person.user.id if person.user else None) for person in people]
    incoming = [
        demo_event(number, user_ids[index], occurred, fields)
        for number, (occurred, index, fields) in enumerate(drafts, 1)
    ]
    manager = next(p.user for p in people if p.team == PERSONA_TEAM and p.is_manager)
    assert manager is not None and manager.id is not None
    await _demo_challenges(session, org_id, _id(teams[PERSONA_TEAM].id), manager.id, today)
    _demo_kudos(session, org_id, people, rng, not_after or _end_of(today))
    # the whole history goes through the same adapter, service and engine as live learning
    await record_events(session, org_id, incoming, now=not_after or _end_of(today), commit=False)
    _demo_nudges(session, org_id, people, drafts, today)
    # the leaders' side: an upcoming sponsored team challenge and a year of budget requests
    await seed_team(session, org_id, _id(teams[PERSONA_TEAM].id), manager, today)
    employee, _, ld_admin = people[:3]
    await seed_budgets(
        session,
        org_id,
        today,
        employee_email=employee.email,
        manager_email=manager.email,
        ld_email=ld_admin.email,
    )
    # what L&D expects of each job family: the recommendations' "belongs to your role"
    await seed_job_families(
        session,
        org_id,
        {key: _id(competency.id) for key, competency in competencies.items()},
        ld_admin_id=ld_admin.user.id if ld_admin.user else None,
        ld_admin_name=ld_admin.display_name,
    )
    # eight weeks of recommendations, some of them followed (insights: how often)
    seed_recommendations(
        session,
        org_id,
        [
            (user_ids[index], person.user.job_family if person.user else None)
            for index, person in enumerate(people)
            if person.start_date is not None and person.start_date <= today
        ],
        courses,
        [
            (occurred, user_ids[index], int(fields["course_id"]))
            for occurred, index, fields in drafts
            if fields.get("course_id")
        ],
        not_after or _end_of(today),
        random.Random(11),  # its own, so the rest of the demo stays as it was
    )
    # colleagues' words on courses the demo learner has not taken ("your team recommends it")
    if employee.user is not None:
        await seed_team_praise(session, org_id, _id(employee.user.id), not_after or _end_of(today))
    return org_id


# the weeks of reminders the demo shows in the console, and how often each text was opened
DEMO_NUDGE_DAYS = 28
DEMO_OPEN_RATE = {"a": 0.32, "b": 0.48, "c": 0.27}


def _demo_nudges(
    session: AsyncSession,
    org_id: int,
    people: list[_Person],
    drafts: list[tuple[datetime, int, dict[str, Any]]],
    today: date,
) -> None:
    """Four weeks of sent 19:00 reminders (texts a, b, c), some opened, and "learned within
    24 hours" where the learner's history has learning then: the nudge console's figures."""
    rng = random.Random(11)  # its own: the rest of the demo stays as it was
    learned: dict[int, list[datetime]] = {}
    for occurred, index, _fields in drafts:
        learned.setdefault(index, []).append(occurred)
    zone = ZoneInfo(DEMO_TZ)
    for index, person in enumerate(people):
        user = person.user
        if user is None or user.id is None or person.start_date is None:
            continue
        for back in range(DEMO_NUDGE_DAYS, 0, -1):
            day = today - timedelta(days=back)
            if day < person.start_date or day.weekday() >= 5 or rng.random() < 0.45:
                continue
            sent = datetime.combine(day, time(19), tzinfo=zone).astimezone(UTC)
            variant = rng.choice("abc")
            text = render("reminder", variant, person.locale, {})
            after = [m for m in learned.get(index, ()) if sent <= m <= sent + timedelta(days=1)]
            session.add(
                Nudge(
                    id=f"{rng.getrandbits(128):032x}",
                    organisation_id=org_id,
                    user_id=user.id,
                    kind="reminder",
                    variant=variant,
                    dedupe_key=f"reminder:{day.isoformat()}",
                    locale=person.locale,
                    title=text.title,
                    body=text.body,
                    url="/log",
                    status="sent",
                    due_at=sent,
                    created_at=sent,
                    sent_at=sent,
                    clicked_at=sent + timedelta(minutes=4)
                    if rng.random() < DEMO_OPEN_RATE[variant]
                    else None,
                    learned_at=min(after) if after else None,
                )
            )


DEMO_KUDOS = (
    "Dank voor je uitleg over de nieuwe routeplanner, scheelt me elke ochtend tijd!",
    "Fijn hoe je het teamoverleg voorzat: kort en iedereen kwam aan het woord.",
    "Jouw tip over Excel-draaitabellen heb ik vandaag meteen gebruikt.",
)


def _demo_kudos(
    session: AsyncSession, org_id: int, people: list[_Person], rng: random.Random, now: datetime
) -> None:
    """A few thanks from teammates, so the persona's Team page shows what kudos look like."""
    persona = next(p for p in people if p.profile == "persona")
    teammates = [p for p in people if p.team == persona.team and p is not persona]
    for days_ago, (sender, message) in zip(
        (9, 4, 1), zip(rng.sample(teammates, len(DEMO_KUDOS)), DEMO_KUDOS, strict=True), strict=True
    ):
        session.add(
            Kudos(
                organisation_id=org_id,
                from_user_id=_id(sender.user.id if sender.user else None),
                to_user_id=_id(persona.user.id if persona.user else None),
                message=message,
                created_at=now - timedelta(days=days_ago, hours=rng.randint(0, 6)),
            )
        )


async def _demo_challenges(
    session: AsyncSession, org_id: int, team_id: int, sponsor_id: int, today: date
) -> None:
    """A hot-skills season from L&D and a team challenge the Planning manager sponsors."""
    season = Challenge(
        organisation_id=org_id,
        kind="individual",
        title="Hot skills-maand: 2 trainingen",
        description="Rond deze maand twee trainingen in een hot skill af en verdien 150 XP extra.",
        starts_on=today - timedelta(days=13),
        ends_on=today + timedelta(days=14),
    )
    monday = today - timedelta(days=today.weekday())
    team = Challenge(
        organisation_id=org_id,
        kind="team",
        title="Planning leert samen: 150 uur",
        description="Samen 150 uur leren in vier weken.",
        starts_on=monday - timedelta(weeks=3),
        ends_on=monday + timedelta(days=6),
        team_id=team_id,
        sponsor_id=sponsor_id,
        pledge="Teamlunch bij De Gouden Karper als we het halen",
    )
    session.add_all([season, team])
    await session.flush()
    season.definition = ChallengeDefinition(
        challenge_id=str(season.id),
        title=season.title,
        starts_on=season.starts_on,
        ends_on=season.ends_on,
        event_kind=GameEventKind.COMPLETION,
        target_count=2,
        hot_skill_only=True,
        xp_reward=150,
    ).to_dict()
    team.definition = TeamChallenge(
        challenge_id=str(team.id),
        sponsor_user_id=sponsor_id,
        pledge=team.pledge,
        starts_on=team.starts_on,
        ends_on=team.ends_on,
        target_kind=TeamTargetKind.TEAM_MINUTES,
        target_minutes=9000,
    ).to_dict()
    session.add_all([season, team])
    await session.flush()


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(20, 0), tzinfo=ZoneInfo(DEMO_TZ)).astimezone(UTC)


def _id(value: int | None) -> int:
    """A primary key after flush (always set by then; this narrows the type)."""
    assert value is not None
    return value
