"""The badge wall's progress agrees with the engine's awards, and the texts read well."""

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.badges.defaults import DEFAULT_BADGES
from backend.badges.texts import how_to_earn, progress_text, tier_label
from gamification import (
    BadgeCriterion,
    BadgeDefinition,
    BadgeTier,
    CriterionKind,
    EventKind,
    LearnerState,
    LearningFact,
    OrgRules,
    StreakMode,
    StreakPolicy,
    evaluate_badges,
    local_day,
    measure_criterion,
    refresh,
    replay,
)
from gamification.engine import backfill

TZ = "Europe/Amsterdam"
START = date(2024, 3, 18)  # a Monday
SPAN_DAYS = 35
NOW = datetime.combine(START + timedelta(days=SPAN_DAYS - 1), time(23, 30), tzinfo=ZoneInfo(TZ))
RULES = [
    OrgRules(),
    OrgRules(streak=StreakPolicy(mode=StreakMode.WEEKLY, days_per_week=2)),
]


def _badge(code: str, kind: CriterionKind, **filters: object) -> BadgeDefinition:
    tiers = tuple(BadgeTier(f"t{n}", n) for n in (1, 2, 3, 4, 5, 7, 10, 30, 60, 120, 300))
    return BadgeDefinition(code, code, BadgeCriterion(kind, **filters), tiers)  # type: ignore[arg-type]


BADGES = [
    _badge("any", CriterionKind.EVENT_COUNT),
    _badge("completions", CriterionKind.EVENT_COUNT, event_kind=EventKind.COMPLETION),
    _badge("in-competency", CriterionKind.EVENT_COUNT, competency_id=1),
    _badge("courses", CriterionKind.EVENT_COUNT, course_ids=frozenset({1, 2})),
    _badge(
        "window",
        CriterionKind.EVENT_COUNT,
        starts_on=START + timedelta(days=7),
        ends_on=START + timedelta(days=20),
    ),
    _badge("explorer", CriterionKind.DISTINCT_COMPETENCIES),
    _badge("explorer-1", CriterionKind.DISTINCT_COMPETENCIES, competency_id=2),
    _badge("minutes", CriterionKind.TOTAL_MINUTES),
    _badge("informal-minutes", CriterionKind.TOTAL_MINUTES, event_kind=EventKind.INFORMAL),
    _badge("streak", CriterionKind.STREAK_LENGTH),
    _badge("hot", CriterionKind.HOT_SKILL_COMPLETIONS),
    _badge("testimonials", CriterionKind.TESTIMONIALS_WRITTEN),
    _badge("first-informal", CriterionKind.FIRST_INFORMAL_LOG),
    _badge("challenges", CriterionKind.CHALLENGES_COMPLETED),
]


@st.composite
def histories(draw: st.DrawFn) -> tuple[LearnerState, OrgRules]:
    count = draw(st.integers(0, 40))
    facts = []
    for n in range(count):
        day = START + timedelta(days=draw(st.integers(0, SPAN_DAYS - 1)))
        moment = datetime.combine(day, time(draw(st.integers(7, 22))), tzinfo=ZoneInfo(TZ))
        course = draw(st.sampled_from([None, 1, 2, 3]))
        facts.append(
            LearningFact(
                key=f"f{n}",
                kind=draw(st.sampled_from(list(EventKind))),
                occurred_at=moment,
                local_date=local_day(moment, TZ),
                minutes=draw(st.sampled_from([0, 5, 15, 45])),
                course_id=course,
                competency_ids=frozenset(draw(st.sets(st.integers(1, 4), max_size=2))),
                hot_skill=course == 3,
            )
        )
    facts.sort(key=lambda f: f.chronological_key)
    challenges = frozenset(draw(st.sets(st.sampled_from("abcdef"), max_size=6)))
    rules = draw(st.sampled_from(RULES))
    # the learner's state as the engine keeps it, with a tally for every badge, and nothing
    # awarded yet: each tier is then awarded exactly when the wall shows it reached
    state = backfill(replay(facts, rules, [], NOW, TZ).state, facts, BADGES)
    return refresh(replace(state, completed_challenges=challenges), rules, NOW, TZ), rules


@settings(max_examples=150, deadline=None)
@given(histories())
def test_a_tier_shows_as_reached_exactly_when_the_engine_awards_it(
    history: tuple[LearnerState, OrgRules],
) -> None:
    state, _ = history
    for badge in BADGES:
        awarded = {a.tier for a in evaluate_badges(state, [badge])}
        measure = measure_criterion(badge.criterion, state)
        for tier in badge.tiers:
            assert (tier.name in awarded) == measure.reached(tier.threshold), (
                badge.code,
                tier,
                measure,
            )


def test_streak_progress_counts_the_running_streak_towards_a_tier_not_yet_reached() -> None:
    # active on four days in a row, then a gap: the best run is 4, the running one 2
    days = [0, 1, 2, 3, 6, 7]
    facts = tuple(
        LearningFact(
            key=f"d{d}",
            kind=EventKind.INFORMAL,
            occurred_at=datetime.combine(START + timedelta(days=d), time(12), tzinfo=ZoneInfo(TZ)),
            local_date=START + timedelta(days=d),
            minutes=10,
        )
        for d in days
    )
    now = datetime.combine(START + timedelta(days=7), time(20), tzinfo=ZoneInfo(TZ))
    rules = OrgRules(streak=StreakPolicy(max_banked_freezes=0, repair_window_days=0))
    state = replay(facts, rules, [], now, TZ).state
    measure = measure_criterion(BadgeCriterion(CriterionKind.STREAK_LENGTH), state)
    assert (measure.value, measure.best) == (2, 4)
    assert measure.toward(3) == 4  # reached: shown as done
    assert measure.toward(7) == 2  # a new run has to get there


def test_how_to_earn_reads_naturally_in_both_languages() -> None:
    completions = BadgeCriterion(CriterionKind.EVENT_COUNT, event_kind=EventKind.COMPLETION)
    assert how_to_earn(completions, 10, "nl") == "Rond 10 trainingen af"
    assert how_to_earn(completions, 10, "en") == "Complete 10 courses"
    assert how_to_earn(completions, 1, "nl") == "Rond 1 training af"
    streak = BadgeCriterion(CriterionKind.STREAK_LENGTH)
    assert how_to_earn(streak, 12, "nl") == "Houd je weekreeks 12 weken vol"
    assert (
        how_to_earn(streak, 12, "en", streak_mode=StreakMode.DAILY)
        == "Keep your daily streak going for 12 days"
    )
    minutes = BadgeCriterion(CriterionKind.TOTAL_MINUTES)
    assert how_to_earn(minutes, 300, "nl") == "Leer in totaal 5 uur"
    assert how_to_earn(minutes, 90, "en") == "Learn for 90 minutes in total"
    narrowed = BadgeCriterion(
        CriterionKind.EVENT_COUNT,
        event_kind=EventKind.COMPLETION,
        competency_id=7,
        starts_on=date(2025, 3, 1),
        ends_on=date(2025, 3, 31),
    )
    assert (
        how_to_earn(narrowed, 2, "en", competency_name="Communication")
        == "Complete 2 courses in Communication between 2025-03-01 and 2025-03-31"
    )
    first = BadgeCriterion(CriterionKind.FIRST_INFORMAL_LOG)
    assert how_to_earn(first, 1, "nl") == "Leg je eerste leermoment vast"
    assert tier_label("silver", "nl") == "zilver" and tier_label("silver", "en") == "silver"
    assert tier_label("diamond", "nl") == "diamond"


def test_progress_is_counted_in_the_unit_the_sentence_names() -> None:
    minutes = BadgeCriterion(CriterionKind.TOTAL_MINUTES)
    # "Leer in totaal 20 uur": 1.115 minutes learned is 18,6 of those 20 hours
    assert how_to_earn(minutes, 1200, "nl") == "Leer in totaal 20 uur"
    assert progress_text(minutes, 1115, 1200, "nl") == "18,6 van 20 uur"
    assert progress_text(minutes, 1115, 1200, "en") == "18.6 of 20 hours"
    assert progress_text(minutes, 30, 60, "en") == "0.5 of 1 hour"
    assert progress_text(minutes, 120, 300, "nl") == "2 van 5 uur"
    assert progress_text(minutes, 45, 90, "nl") == "45 van 90 minuten"
    assert progress_text(minutes, 45, 90, "en") == "45 of 90 minutes"
    streak = BadgeCriterion(CriterionKind.STREAK_LENGTH)
    assert progress_text(streak, 3, 12, "nl") == "3 van 12 weken"
    assert progress_text(streak, 3, 12, "en", streak_mode=StreakMode.DAILY) == "3 of 12 days"
    completions = BadgeCriterion(CriterionKind.EVENT_COUNT, event_kind=EventKind.COMPLETION)
    assert progress_text(completions, 1115, 2000, "nl") == "1.115 van 2.000"
    assert progress_text(completions, 1115, 2000, "en") == "1,115 of 2,000"


def test_dutch_badge_texts_use_the_apps_dutch_words() -> None:
    challenges = BadgeCriterion(CriterionKind.CHALLENGES_COMPLETED)
    assert how_to_earn(challenges, 1, "nl") == "Voltooi 1 uitdaging"
    assert how_to_earn(challenges, 3, "nl") == "Voltooi 3 uitdagingen"
    assert how_to_earn(challenges, 3, "en") == "Complete 3 challenges"
    for badge in DEFAULT_BADGES:
        dutch = [badge.definition.name, badge.description]
        dutch += [
            how_to_earn(badge.definition.criterion, t.threshold, "nl")
            for t in badge.definition.tiers
        ]
        english_words = ("challenge", "testimonial", "hot skill")
        assert not [text for text in dutch if any(w in text.lower() for w in english_words)]
    hot = BadgeCriterion(CriterionKind.HOT_SKILL_COMPLETIONS)
    assert how_to_earn(hot, 2, "nl") == "Rond 2 trainingen in gevraagde vaardigheden af"
    shared = BadgeCriterion(CriterionKind.TESTIMONIALS_WRITTEN)
    assert how_to_earn(shared, 3, "nl") == "Deel 3 ervaringen met trainingen"


def test_every_default_badge_has_both_languages_and_a_sentence_per_tier() -> None:
    codes = [b.definition.code for b in DEFAULT_BADGES]
    assert len(codes) == len(set(codes)) == 8
    for badge in DEFAULT_BADGES:
        assert badge.definition.name and badge.name_en
        assert badge.description and badge.description_en
        # survives the round trip the engine makes when it reads the stored row
        assert BadgeDefinition.from_dict(badge.definition.to_dict()) == badge.definition
        for tier in badge.definition.tiers:
            for language in ("nl", "en"):
                assert how_to_earn(badge.definition.criterion, tier.threshold, language)
