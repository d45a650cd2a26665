"""The pure side of nudge governance: an organisation's texts over the built-in ones, the
placeholders each kind provides, and the policy honouring the organisation's kinds off."""

import random
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from gamification.nudge_policy import Activity, LearnerPrefs, NudgeRules, plan
from gamification.nudge_texts import (
    PLACEHOLDERS,
    SAMPLE_PARAMS,
    TEXTS,
    catalogue,
    placeholders_in,
    render,
    unknown_placeholders,
    variants,
)
from gamification.nudges import Happening, NudgeCategory, NudgeType

AMS = ZoneInfo("Europe/Amsterdam")
TUESDAY_19 = datetime.combine(date(2026, 12, 1), time(19), tzinfo=AMS).astimezone(UTC)
SAM = LearnerPrefs(timezone="Europe/Amsterdam", locale="en", reminder_time=time(19))


def test_every_built_in_text_uses_only_what_its_kind_provides() -> None:
    assert set(PLACEHOLDERS) == set(TEXTS) == set(SAMPLE_PARAMS) == {k.value for k in NudgeType}
    for kind, by_variant in TEXTS.items():
        for by_locale in by_variant.values():
            for title, body in by_locale.values():
                assert unknown_placeholders(kind, title) == []
                assert unknown_placeholders(kind, body) == []
                # and every example fills them all in
                text = render(kind, "a", "en", SAMPLE_PARAMS[kind])
                assert "{" not in text.title + text.body


def test_own_rows_override_retire_and_add_per_language() -> None:
    texts = catalogue(
        [
            ("reminder", "a", "en", "Learn a bit?", "Five minutes.", False),
            ("reminder", "b", "en", "", "", True),
            ("reminder", "v7", "nl", "Even leren?", "Vijf minuten.", False),
        ]
    )
    assert variants("reminder", "en", texts) == ("a", "c")
    assert variants("reminder", "nl", texts) == ("a", "b", "c", "v7")
    assert render("reminder", "a", "en", {}, texts).title == "Learn a bit?"
    assert render("reminder", "a", "nl", {}, texts).title == "Tijd voor iets nieuws?"
    assert render("reminder", "v7", "nl", {}, texts).body == "Vijf minuten."
    assert variants("badge_earned", "en", texts) == ("a", "b")  # untouched kinds stay


def test_a_language_with_every_text_retired_falls_back_to_the_built_in_ones() -> None:
    texts = catalogue([("kudos_received", v, "en", "", "", True) for v in ("a", "b")])
    assert variants("kudos_received", "en", texts) == ("a", "b")
    assert render("kudos_received", "a", "en", {"colleague": "Sam"}, texts).title == (
        "Kudos from Sam"
    )


@pytest.mark.parametrize(
    ("template", "names"),
    [("{course}: {course}", ["course", "course"]), ("{{literal}} braces", []), ("plain", [])],
)
def test_placeholders_are_read_from_a_template(template: str, names: list[str]) -> None:
    assert placeholders_in(template) == names


@pytest.mark.parametrize("template", ["{", "}", "a {b", "{x.y}", "{x[0]}", "{x!r}", "{x:>9}", "{}"])
def test_anything_but_a_plain_placeholder_is_refused(template: str) -> None:
    with pytest.raises(ValueError):
        placeholders_in(template)


def test_a_broken_own_template_never_stops_a_nudge() -> None:
    texts = {"reminder": {"en": {"a": ("{x.y}", "{")}}}
    text = render("reminder", "a", "en", {}, texts)
    assert text.title == "Time for something new?"  # the built-in text instead


def test_the_policy_sends_the_organisations_own_text_in_the_learners_language() -> None:
    texts = catalogue(
        [("reminder", v, "en", "", "", True) for v in ("a", "b", "c")]
        + [("reminder", "v3", "en", "Your ten minutes", "Pick anything.", False)]
    )
    result = plan(SAM, Activity(), [], [], NudgeRules(), TUESDAY_19, random.Random(1), None, texts)
    (nudge,) = result.nudges
    assert (nudge.kind, nudge.variant, nudge.title) == (
        NudgeType.REMINDER,
        "v3",
        "Your ten minutes",
    )


def test_kinds_the_organisation_switched_off_are_not_planned() -> None:
    kudos = Happening(NudgeType.KUDOS_RECEIVED, "kudos:1", TUESDAY_19, {"colleague": "Mia"})
    rules = NudgeRules(kinds_off=frozenset({NudgeType.REMINDER, NudgeType.KUDOS_RECEIVED}))
    off = plan(SAM, Activity(), [kudos], [], rules, TUESDAY_19, random.Random(1))
    assert off.nudges == ()
    on = plan(SAM, Activity(), [kudos], [], NudgeRules(), TUESDAY_19, random.Random(1))
    assert [n.kind for n in on.nudges] == [NudgeType.KUDOS_RECEIVED]


def test_the_welcome_can_be_switched_off_by_the_organisation_only() -> None:
    welcome = Happening(NudgeType.WELCOME, "welcome", TUESDAY_19, {"organisation": "Acme"})
    learner = LearnerPrefs(
        timezone="Europe/Amsterdam",
        locale="en",
        kinds_off=frozenset(c.value for c in NudgeCategory),  # everything
    )
    kept = plan(learner, Activity(), [welcome], [], NudgeRules(), TUESDAY_19, random.Random(1))
    assert [n.kind for n in kept.nudges] == [NudgeType.WELCOME]
    rules = NudgeRules(kinds_off=frozenset({NudgeType.WELCOME}))
    assert (
        plan(learner, Activity(), [welcome], [], rules, TUESDAY_19, random.Random(1)).nudges == ()
    )
