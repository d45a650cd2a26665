"""xAPI 1.0.3 statement parsing: every rule of backend.learning.xapi, plus hostile-input fuzzing."""

from __future__ import annotations

import contextlib
import copy
import pickle
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.learning.xapi import (
    SUPPORTED_VERBS,
    ActorRef,
    ParsedStatement,
    XapiError,
    canonical_fingerprint,
    canonical_json,
    check_version_header,
    decode_json,
    mbox_sha1sum,
    parse_duration_minutes,
    parse_statement,
    parse_statements,
    parse_timestamp,
)

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
STATEMENT_ID = "5e2b9b1c-3d4f-4a6b-8c7d-9e0f1a2b3c4d"
OTHER_ID = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"


def make_statement(**overrides: Any) -> dict[str, Any]:
    """A valid completion statement; keyword overrides replace top-level properties."""
    statement: dict[str, Any] = {
        "id": STATEMENT_ID,
        "actor": {"objectType": "Agent", "name": "Ada", "mbox": "mailto:Ada@Example.COM"},
        "verb": {"id": COMPLETED, "display": {"en-US": "completed"}},
        "object": {
            "objectType": "Activity",
            "id": "https://lms.example.com/courses/42",
            "definition": {"name": {"en-US": "Safe work", "nl-NL": "Veilig werken"}},
        },
        "result": {
            "duration": "PT1H30M",
            "success": True,
            "completion": True,
            "score": {"scaled": 0.8, "raw": 8, "min": 0, "max": 10},
        },
        "timestamp": "2024-05-01T09:30:00+02:00",
    }
    statement.update(overrides)
    return {key: value for key, value in statement.items() if value is not ...}


def parse_one(**overrides: Any) -> ParsedStatement:
    return parse_statement(make_statement(**overrides))


def error_of(body: object, **kwargs: Any) -> XapiError:
    with pytest.raises(XapiError) as caught:
        parse_statements(body, **kwargs)
    return caught.value


# --------------------------------------------------------------------------- XapiError


def test_error_str_is_field_colon_message_and_it_is_a_value_error() -> None:
    err = XapiError("statement[2].verb.id", "is required")
    assert str(err) == "statement[2].verb.id: is required"
    assert (err.field, err.message) == ("statement[2].verb.id", "is required")
    assert isinstance(err, ValueError)


def test_error_survives_pickling() -> None:
    err = pickle.loads(pickle.dumps(XapiError("actor.mbox", "bad")))
    assert (err.field, err.message) == ("actor.mbox", "bad")


# --------------------------------------------------------------------------- a full statement


def test_valid_statement_is_reduced_to_what_the_service_needs() -> None:
    parsed = parse_one()
    assert parsed.id == STATEMENT_ID
    assert parsed.id_generated is False
    assert parsed.verb_id == COMPLETED
    assert parsed.kind == "completion"
    assert parsed.actor == ActorRef(email="ada@example.com")
    assert parsed.activity_id == "https://lms.example.com/courses/42"
    assert parsed.activity_name == "Veilig werken"
    assert parsed.duration_minutes == 90
    assert parsed.success is True
    assert parsed.completion is True
    assert parsed.score_scaled == 0.8
    assert parsed.timestamp == datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
    assert len(parsed.stored_fingerprint) == 64
    assert parsed.statement["id"] == STATEMENT_ID


def test_minimal_statement_leaves_optional_values_none() -> None:
    parsed = parse_statement(
        {
            "actor": {"mbox": "mailto:a@example.com"},
            "verb": {"id": COMPLETED},
            "object": {"id": "urn:course:1"},
        }
    )
    assert parsed.activity_name is None
    assert parsed.duration_minutes is None
    assert parsed.success is None
    assert parsed.completion is None
    assert parsed.score_scaled is None
    assert parsed.timestamp is None


def test_parsed_statement_copy_is_independent_of_the_input() -> None:
    statement = make_statement()
    parsed = parse_statement(statement)
    statement["verb"]["id"] = "http://example.com/changed"
    assert parsed.statement["verb"]["id"] == COMPLETED


def test_unknown_top_level_property_is_refused() -> None:
    err = error_of(make_statement(timestmap="2024-05-01T09:30:00Z"))
    assert err.field == "timestmap"
    assert "not an xAPI statement property" in err.message


@pytest.mark.parametrize("missing", ["actor", "verb", "object"])
def test_required_properties_are_named_when_missing(missing: str) -> None:
    assert error_of(make_statement(**{missing: ...})).field == missing


def test_context_and_attachments_must_have_the_right_shape() -> None:
    assert parse_one(context={"registration": OTHER_ID}, attachments=[]).kind == "completion"
    assert error_of(make_statement(context=[])).field == "context"
    assert error_of(make_statement(attachments={})).field == "attachments"


def test_statement_version_property_must_be_1_0_x() -> None:
    assert parse_one(version="1.0.3").kind == "completion"
    assert error_of(make_statement(version="2.0.0")).field == "version"


# --------------------------------------------------------------------------- verbs


@pytest.mark.parametrize(
    ("verb", "kind"),
    [
        ("http://adlnet.gov/expapi/verbs/completed", "completion"),
        ("http://adlnet.gov/expapi/verbs/passed", "completion"),
        ("http://adlnet.gov/expapi/verbs/experienced", "experience"),
        ("http://adlnet.gov/expapi/verbs/progressed", "progress"),
    ],
)
def test_supported_verbs_map_to_their_kind(verb: str, kind: str) -> None:
    assert SUPPORTED_VERBS[verb] == kind
    assert parse_one(verb={"id": verb}).kind == kind


def test_other_verbs_parse_with_no_kind() -> None:
    parsed = parse_one(verb={"id": "http://adlnet.gov/expapi/verbs/attempted"})
    assert parsed.verb_id == "http://adlnet.gov/expapi/verbs/attempted"
    assert parsed.kind is None


@pytest.mark.parametrize("verb_id", ["completed", "", "http://", "http:// spaces.example/x", 5])
def test_verb_id_must_be_an_absolute_iri(verb_id: object) -> None:
    assert error_of(make_statement(verb={"id": verb_id})).field == "verb.id"


def test_verb_display_must_be_a_language_map() -> None:
    err = error_of(make_statement(verb={"id": COMPLETED, "display": "completed"}))
    assert err.field == "verb.display"


# --------------------------------------------------------------------------- actors


def test_mbox_actor_is_lowercased_without_mailto() -> None:
    actor = parse_one(actor={"mbox": "MAILTO:Grace.Hopper@Navy.MIL"}).actor
    assert actor == ActorRef(email="grace.hopper@navy.mil")
    assert actor.kind == "email"


def test_mbox_sha1sum_actor_is_lowercase_hex() -> None:
    digest = mbox_sha1sum("ada@example.com")
    actor = parse_one(actor={"mbox_sha1sum": digest.upper()}).actor
    assert actor == ActorRef(mbox_sha1sum=digest)
    assert actor.kind == "mbox_sha1sum"


def test_account_actor_keeps_home_page_and_name() -> None:
    actor = parse_one(
        actor={"account": {"homePage": "https://lms.example.com", "name": "user-42"}}
    ).actor
    assert actor == ActorRef(account_home_page="https://lms.example.com", account_name="user-42")
    assert actor.kind == "account"


@pytest.mark.parametrize(
    ("actor", "field"),
    [
        ({"mbox": "ada@example.com"}, "actor.mbox"),
        ({"mbox": "mailto:not an address"}, "actor.mbox"),
        ({"mbox": "mailto:"}, "actor.mbox"),
        ({"mbox_sha1sum": "abc"}, "actor.mbox_sha1sum"),
        ({"account": {"homePage": "https://lms.example.com"}}, "actor.account.name"),
        ({"account": {"homePage": "lms", "name": "u"}}, "actor.account.homePage"),
        ({"account": "user-42"}, "actor.account"),
        ({"openid": "not an iri"}, "actor.openid"),
        ({"name": "nobody"}, "actor"),
        ({"mbox": "mailto:a@example.com", "mbox_sha1sum": "a" * 40}, "actor"),
        ({"objectType": "Group", "name": "nobody"}, "actor.member"),
        ({"objectType": "Group", "member": "ada"}, "actor.member"),
        (
            {"objectType": "Group", "member": [{"objectType": "Group", "mbox": "mailto:t@x.nl"}]},
            "actor.member[0].objectType",
        ),
        ({"mbox": "mailto:a@example.com", "member": []}, "actor.member"),
        (
            {"account": {"homePage": "https://lms.example.com", "name": "u", "x": 1}},
            "actor.account.x",
        ),
        ({"objectType": "Person", "mbox": "mailto:a@example.com"}, "actor.objectType"),
        ({"mbox": "mailto:a@example.com", "name": "x" * 301}, "actor.name"),
    ],
)
def test_invalid_actors_are_refused_with_the_field(actor: dict[str, Any], field: str) -> None:
    assert error_of(make_statement(actor=actor)).field == field


def test_actor_ref_insists_on_exactly_one_identifier() -> None:
    with pytest.raises(ValueError):
        ActorRef()
    with pytest.raises(ValueError):
        ActorRef(email="a@example.com", mbox_sha1sum="a" * 40)
    with pytest.raises(ValueError):
        ActorRef(account_name="only-a-name")


# --------------------------------------------------------------------------- objects


@pytest.mark.parametrize(
    "actor",
    [
        {"objectType": "Group", "name": "Team", "mbox": "mailto:team@example.com"},
        {"objectType": "Group", "member": [{"mbox": "mailto:ada@example.com"}]},
        {"objectType": "Group", "account": {"homePage": "https://lms.example.com", "name": "t"}},
    ],
)
def test_group_actors_are_valid_and_earn_nothing(actor: dict[str, Any]) -> None:
    parsed = parse_one(actor=actor)
    assert parsed.group_actor
    assert not parsed.earns


def test_an_openid_agent_is_valid() -> None:
    parsed = parse_one(actor={"openid": "https://id.example.com/ada"})
    assert parsed.actor.kind == "openid"
    assert parsed.earns


@pytest.mark.parametrize(
    "target",
    [
        {"objectType": "Agent", "mbox": "mailto:bea@example.com"},
        {"objectType": "Group", "member": [{"mbox": "mailto:bea@example.com"}]},
        {"objectType": "StatementRef", "id": OTHER_ID},
        {
            "objectType": "SubStatement",
            "actor": {"mbox": "mailto:bea@example.com"},
            "verb": {"id": COMPLETED},
            "object": {"objectType": "StatementRef", "id": OTHER_ID},
            "context": {"registration": OTHER_ID},
            "timestamp": "2024-05-01T09:30:00Z",
        },
    ],
)
def test_non_activity_objects_are_valid_and_earn_nothing(target: dict[str, Any]) -> None:
    parsed = parse_one(object=target)
    assert parsed.object_type == target["objectType"]
    assert parsed.activity_id == ""
    assert not parsed.earns


def test_voiding_needs_a_statement_ref() -> None:
    voided = {"id": "http://adlnet.gov/expapi/verbs/voided"}
    assert parse_one(verb=voided, object={"objectType": "StatementRef", "id": OTHER_ID}).verb_id
    assert error_of(make_statement(verb=voided)).field == "object"


@pytest.mark.parametrize(
    ("target", "field"),
    [
        ({"objectType": "Person", "id": OTHER_ID}, "object.objectType"),
        ({"objectType": "StatementRef", "id": "42"}, "object.id"),
        ({"objectType": "StatementRef"}, "object.id"),
        ({"objectType": "Agent", "id": OTHER_ID}, "object.id"),
        ({"objectType": "Group"}, "object.member"),
        (
            {
                "objectType": "SubStatement",
                "id": OTHER_ID,
                "actor": {"mbox": "mailto:b@example.com"},
                "verb": {"id": COMPLETED},
                "object": {"id": "urn:course:1"},
            },
            "object.id",
        ),
        (
            {
                "objectType": "SubStatement",
                "actor": {"mbox": "mailto:b@example.com"},
                "verb": {"id": COMPLETED},
                "object": {
                    "objectType": "SubStatement",
                    "actor": {"mbox": "mailto:b@example.com"},
                    "verb": {"id": COMPLETED},
                    "object": {"id": "urn:course:1"},
                },
            },
            "object.object.objectType",
        ),
        (
            {"objectType": "SubStatement", "verb": {"id": COMPLETED}, "object": {"id": "urn:x:1"}},
            "object.actor",
        ),
    ],
)
def test_invalid_objects_are_refused_with_the_field(target: dict[str, Any], field: str) -> None:
    assert error_of(make_statement(object=target)).field == field


@pytest.mark.parametrize("activity_id", ["course-42", "", "https:///no-host", "x" * 1001])
def test_activity_id_must_be_an_iri_of_at_most_1000_characters(activity_id: str) -> None:
    assert error_of(make_statement(object={"id": activity_id})).field == "object.id"


def test_activity_without_object_type_is_an_activity() -> None:
    assert parse_one(object={"id": "urn:uuid:" + OTHER_ID}).activity_id == "urn:uuid:" + OTHER_ID


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ({"en-US": "Safe work", "nl-NL": "Veilig werken", "nl": "Veilig"}, "Veilig werken"),
        ({"en-US": "Safe work", "nl": "Veilig werken"}, "Veilig werken"),
        (
            {"en-US": "Safe work", "nl-BE": "Veilig werken (BE)", "de": "Sicher"},
            "Veilig werken (BE)",
        ),
        ({"en": "Safe work", "en-US": "Safe work (US)", "de": "Sicher"}, "Safe work (US)"),
        ({"en": "Safe work", "de": "Sicher"}, "Safe work"),
        ({"en-GB": "Safe work (GB)", "de": "Sicher"}, "Safe work (GB)"),
        ({"fr": "Travail sûr", "de": "Sicher"}, "Sicher"),
        ({"nl-nl": "kleine letters"}, "kleine letters"),
        ({"nl-NL": "   ", "en-US": "Safe work"}, "Safe work"),
        ({"en-US": "  Padded  "}, "Padded"),
        ({}, None),
        ({"en-US": ""}, None),
    ],
)
def test_activity_name_prefers_dutch_then_english_then_any(
    names: dict[str, str], expected: str | None
) -> None:
    parsed = parse_one(object={"id": "urn:course:1", "definition": {"name": names}})
    assert parsed.activity_name == expected


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ("Safe work", "object.definition"),
        ({"name": "Safe work"}, "object.definition.name"),
        ({"name": ["Safe work"]}, "object.definition.name"),
        ({"name": {"en-US": 5}}, 'object.definition.name["en-US"]'),
        ({"name": {"not a tag": "x"}}, 'object.definition.name["not a tag"]'),
        ({"name": {"en-US": "x" * 301}}, 'object.definition.name["en-US"]'),
        ({"description": {"en-US": None}}, 'object.definition.description["en-US"]'),
        ({"type": "quiz"}, "object.definition.type"),
        ({"moreInfo": "www"}, "object.definition.moreInfo"),
        ({"extensions": {"colour": 1}}, "object.definition.extensions.colour"),
        ({"interactionType": "essay"}, "object.definition.interactionType"),
        ({"interactionType": {"a": 1}}, "object.definition.interactionType"),
        ({"interactionType": ["choice"], "choices": []}, "object.definition.interactionType"),
        ({"interactionType": "choice", "scale": []}, "object.definition.scale"),
        ({"choices": [{"id": "a"}]}, "object.definition.choices"),
        (
            {"interactionType": "choice", "choices": [{"id": "a"}, {"id": "a"}]},
            "object.definition.choices[1].id",
        ),
        (
            {"interactionType": "choice", "correctResponsesPattern": "a"},
            "object.definition.correctResponsesPattern",
        ),
        (
            {"interactionType": "choice", "correctResponsesPattern": [1]},
            "object.definition.correctResponsesPattern[0]",
        ),
        ({"correctResponsesPattern": ["a"]}, "object.definition.correctResponsesPattern"),
        ({"names": {}}, "object.definition.names"),
    ],
)
def test_malformed_definitions_are_refused_with_the_field(definition: object, field: str) -> None:
    err = error_of(make_statement(object={"id": "urn:course:1", "definition": definition}))
    assert err.field == field


def test_names_may_be_exactly_300_characters() -> None:
    name = "x" * 300
    parsed = parse_one(object={"id": "urn:c:1", "definition": {"name": {"en": name}}})
    assert parsed.activity_name == name


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("PT1H30M", 90),
        ("PT45M29S", 45),
        ("PT45M30S", 46),
        ("PT23H59M30S", 1440),
        ("PT0.5H", 30),
        ("PT0,5H", 30),
        ("PT45M12S", 45),
        ("P1DT2H", 1440),
        ("PT0S", 0),
        ("PT29S", 0),
        ("PT30S", 1),
        ("PT90M", 90),
        ("P1W", 1440),
        ("P7D", 1440),
        ("P4W", 1440),
        ("P1M", 1440),
        ("P3Y1M29DT4H35M59.14S", 1440),
        ("P0Y0M0DT23H59M", 1439),
        ("PT99999999999999999999H", 1440),
        ("P0Y0M1D", 1440),
        ("PT1H0.5M", 61),
        ("PT12.345S", 0),
    ],
)
def test_iso_durations_become_minutes_rounded_half_up(text: str, minutes: int) -> None:
    assert parse_duration_minutes(text) == minutes


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("1 hour", "ISO 8601 duration"),
        ("-PT5M", "negative"),
        ("P", "no components"),
        ("PT", "no components"),
        ("P1DT", "T without"),
        ("PT1.5H30M", "last component"),
        ("P4W1D", "weeks"),
        ("pt1h", "ISO 8601 duration"),
        ("PT1H30M ", "ISO 8601 duration"),
        ("PT١H", "ISO 8601 duration"),
        ("P" + "1" * 100 + "D", "characters"),
    ],
)
def test_bad_durations_are_refused_with_a_reason(text: str, hint: str) -> None:
    with pytest.raises(XapiError) as caught:
        parse_duration_minutes(text, field="result.duration")
    assert caught.value.field == "result.duration"
    assert hint in caught.value.message


def test_duration_error_in_a_statement_names_result_duration() -> None:
    err = error_of(make_statement(result={"duration": "1 hour"}))
    assert err.field == "result.duration"
    assert "result.duration" in str(err)


def test_duration_must_be_a_string() -> None:
    assert error_of(make_statement(result={"duration": 90})).field == "result.duration"


# --------------------------------------------------------------------------- result


@pytest.mark.parametrize(
    ("result", "field"),
    [
        ({"success": "true"}, "result.success"),
        ({"completion": 1}, "result.completion"),
        ({"score": {"scaled": 1.5}}, "result.score.scaled"),
        ({"score": {"scaled": -1.01}}, "result.score.scaled"),
        ({"score": {"scaled": "0.5"}}, "result.score.scaled"),
        ({"score": {"scaled": True}}, "result.score.scaled"),
        ({"score": {"scaled": float("nan")}}, "result.score.scaled"),
        ({"score": {"raw": 11, "max": 10}}, "result.score.raw"),
        ({"score": {"min": 5, "max": 1}}, "result.score.min"),
        ({"score": 0.5}, "result.score"),
        ("passed", "result"),
    ],
)
def test_invalid_results_are_refused_with_the_field(result: object, field: str) -> None:
    assert error_of(make_statement(result=result)).field == field


@pytest.mark.parametrize("scaled", [-1, 0, 1, 0.25])
def test_scaled_score_accepts_minus_one_to_one(scaled: float) -> None:
    assert parse_one(result={"score": {"scaled": scaled}}).score_scaled == scaled


def test_success_and_completion_may_be_false() -> None:
    parsed = parse_one(result={"success": False, "completion": False})
    assert (parsed.success, parsed.completion) == (False, False)


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T09:30:00Z", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
        ("2024-05-01T09:30:00+02:00", datetime(2024, 5, 1, 7, 30, tzinfo=UTC)),
        ("2024-05-01T09:30:00-0530", datetime(2024, 5, 1, 15, 0, tzinfo=UTC)),
        ("2024-05-01T09:30:00+02", datetime(2024, 5, 1, 7, 30, tzinfo=UTC)),
        ("2024-05-01T09:30:00.123456789Z", datetime(2024, 5, 1, 9, 30, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T09:30Z", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
        ("2024-05-01T09:30:00", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
        ("2024-05-01t09:30:00.5", datetime(2024, 5, 1, 9, 30, 0, 500000, tzinfo=UTC)),
    ],
)
def test_timestamps_become_aware_utc_and_no_offset_means_utc(text: str, expected: datetime) -> None:
    parsed = parse_one(timestamp=text).timestamp
    assert parsed == expected
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2024-05-01",
        "2024-13-01T09:30:00Z",
        "2024-02-30T09:30:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01 09:30:00Z",
        "2024-05-01T09:30:00+25:00",
        "2024-05-01T09:30:00-00:00",
        "0001-01-01T00:00:00+01:00",
        "1714555800",
    ],
)
def test_unparsable_timestamps_are_refused(text: str) -> None:
    assert error_of(make_statement(timestamp=text)).field == "timestamp"


@settings(max_examples=400)
@given(
    moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    digits=st.integers(min_value=0, max_value=9),
    offset_minutes=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    zulu=st.booleans(),
)
def test_timestamps_as_lmss_write_them_are_read_exactly(
    moment: datetime, digits: int, offset_minutes: int, zulu: bool
) -> None:
    fraction = f"{moment.microsecond:06d}{'123'}"[:digits]
    if zulu or offset_minutes == 0:
        offset, tz = "Z", UTC
    else:
        sign = "-" if offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(offset_minutes), 60)
        offset, tz = f"{sign}{hours:02d}:{minutes:02d}", timezone(timedelta(minutes=offset_minutes))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + offset
    truncated = int(fraction[:6].ljust(6, "0")) if digits else 0
    expected = moment.replace(microsecond=truncated, tzinfo=tz)
    parsed = parse_timestamp(text, field="timestamp")
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
    ],
)
def test_timestamps_beyond_the_learning_bound_are_refused(text: str) -> None:
    err = error_of(make_statement(timestamp=text))
    assert err.field == "timestamp" and "1970-01-01 and 2100-01-01" in err.message


def test_timestamp_must_be_a_string() -> None:
    assert error_of(make_statement(timestamp=1714555800)).field == "timestamp"


def test_parse_timestamp_can_require_an_offset() -> None:
    with pytest.raises(XapiError, match="offset"):
        parse_timestamp("2024-05-01T09:30:00", field="occurred_at", require_offset=True)
    parsed = parse_timestamp("2024-05-01T09:30:00+01:00", field="x", require_offset=True)
    assert parsed == datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))


# --------------------------------------------------------------------------- ids


def test_id_is_returned_in_lowercase_canonical_form() -> None:
    assert parse_one(id=STATEMENT_ID.upper()).id == STATEMENT_ID


@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", "{" + STATEMENT_ID + "}", STATEMENT_ID.replace("-", ""), 42]
)
def test_malformed_ids_are_refused(bad_id: object) -> None:
    assert error_of(make_statement(id=bad_id)).field == "id"


def test_id_less_statement_gets_a_generated_uuid4() -> None:
    parsed = parse_statement(make_statement(id=...))
    assert parsed.id_generated is True
    assert uuid.UUID(parsed.id).version == 4
    assert parsed.statement["id"] == parsed.id


def test_generated_ids_come_from_new_id() -> None:
    fixed = uuid.UUID(OTHER_ID)
    assert parse_statements(make_statement(id=...), new_id=lambda: fixed)[0].id == OTHER_ID


def test_put_statement_id_fills_in_a_missing_body_id() -> None:
    parsed = parse_statements(make_statement(id=...), statement_id=OTHER_ID.upper())[0]
    assert (parsed.id, parsed.id_generated) == (OTHER_ID, False)


def test_put_statement_id_equal_to_body_id_is_accepted() -> None:
    assert (
        parse_statements(make_statement(), statement_id=STATEMENT_ID.upper())[0].id == STATEMENT_ID
    )


def test_put_statement_id_mismatching_the_body_id_is_refused() -> None:
    err = error_of(make_statement(), statement_id=OTHER_ID)
    assert err.field == "id"
    assert "does not match the statementId" in err.message


def test_put_statement_id_must_be_a_uuid() -> None:
    assert error_of(make_statement(), statement_id="nope").field == "statementId"


def test_put_with_an_array_body_is_refused() -> None:
    assert error_of([make_statement()], statement_id=STATEMENT_ID).field == "statementId"


# --------------------------------------------------------------------------- batches


def test_batch_errors_name_the_index() -> None:
    batch = [make_statement(id=...), make_statement(id=...), make_statement(id=..., verb={"id": 5})]
    err = error_of(batch)
    assert err.field == "statement[2].verb.id"
    assert str(err).startswith("statement[2].verb.id: ")


def test_batch_keeps_order_and_generates_distinct_ids() -> None:
    batch = [make_statement(id=..., verb={"id": f"http://example.com/verbs/{n}"}) for n in range(3)]
    parsed = parse_statements(batch)
    assert [p.verb_id for p in parsed] == [f"http://example.com/verbs/{n}" for n in range(3)]
    assert len({p.id for p in parsed}) == 3


def test_batch_with_the_same_statement_twice_is_refused() -> None:
    """xAPI 1.0.3 (part three, 2.1.2): a batch holding an id twice is a 400."""
    err = error_of(
        [make_statement(), make_statement(id=OTHER_ID), make_statement(id=STATEMENT_ID.upper())]
    )
    assert err.field == "statement[2].id"
    assert STATEMENT_ID in err.message and "statement[0]" in err.message


def test_batch_duplicate_id_with_different_content_is_refused() -> None:
    changed = make_statement(result={"completion": False})
    err = error_of([make_statement(id=OTHER_ID), make_statement(), changed])
    assert err.field == "statement[2].id"
    assert "statement[1]" in err.message


@pytest.mark.parametrize(
    ("body", "hint"),
    [([], "empty"), ("statement", "statement object or an array"), (None, "statement object")],
)
def test_batch_body_must_be_an_object_or_a_non_empty_array(body: object, hint: str) -> None:
    err = error_of(body)
    assert err.field == "statement"
    assert hint in err.message


def test_batch_holds_at_most_1000_statements() -> None:
    statement = make_statement(id=...)
    assert len(parse_statements([statement] * 1000)) == 1000
    err = error_of([statement] * 1001)
    assert "at most 1000" in err.message


def test_batch_items_must_be_objects() -> None:
    assert error_of([make_statement(), 5]).field == "statement[1]"


# --------------------------------------------------------------------------- fingerprints


def test_fingerprint_ignores_stored_authority_version_and_id() -> None:
    plain = parse_one()
    decorated = parse_one(
        stored="2024-05-01T10:00:00Z",
        authority={"mbox": "mailto:lrs@example.com"},
        version="1.0.3",
        id=STATEMENT_ID.upper(),
    )
    generated = parse_statement(make_statement(id=...))
    assert plain.stored_fingerprint == decorated.stored_fingerprint == generated.stored_fingerprint


def test_fingerprint_ignores_key_order() -> None:
    statement = make_statement()
    reordered = dict(reversed(list(copy.deepcopy(statement).items())))
    assert (
        parse_statement(statement).stored_fingerprint
        == parse_statement(reordered).stored_fingerprint
    )


def test_fingerprint_changes_when_the_verb_changes() -> None:
    passed = parse_one(verb={"id": "http://adlnet.gov/expapi/verbs/passed"})
    assert parse_one().stored_fingerprint != passed.stored_fingerprint


def test_fingerprint_changes_when_the_result_changes() -> None:
    assert (
        parse_one().stored_fingerprint != parse_one(result={"completion": True}).stored_fingerprint
    )


def test_canonical_fingerprint_is_sha256_of_sorted_compact_json() -> None:
    import hashlib

    expected = hashlib.sha256(b'{"a":[1,"\\u00e9"],"b":null}').hexdigest()
    assert canonical_fingerprint({"b": None, "a": [1, "é"]}) == expected


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    extensions=st.dictionaries(
        st.from_regex(r"https://example\.com/[a-zé€0-9]{1,8}", fullmatch=True),
        _json_values,
        max_size=4,
    )
)
def test_a_statement_decoded_from_json_has_the_fingerprint_of_its_copy(
    extensions: dict[str, Any],
) -> None:
    # the statements route parses the decoded body as it is; the same statement from elsewhere
    # must fingerprint alike, or a retry would answer 409 instead of being a duplicate
    statement = make_statement(context={"extensions": extensions})
    shared = parse_statement(copy.deepcopy(statement), from_json=True)
    copied = parse_statement(statement)
    assert shared.stored_fingerprint == copied.stored_fingerprint
    assert shared.statement == copied.statement


@settings(max_examples=400)
@given(document=_json_values)
def test_canonical_json_of_decoded_json_is_json_dumps_sorted_compact_ascii(document: Any) -> None:
    import json

    expected = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert canonical_json(document, plain=True) == expected == canonical_json(document)


def _holds_a_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_holds_a_float(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_a_float(v) for v in value.values())
    return False


@settings(max_examples=400)
@given(document=_json_values)
def test_decoding_says_whether_the_json_held_a_float(document: Any) -> None:
    import json

    text = json.dumps(document)
    decoded, floats = decode_json(text.encode())
    assert decoded == json.loads(text)
    assert floats == _holds_a_float(document)


_float_free_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400)
@given(document=_float_free_values)
def test_canonical_json_of_float_free_json_is_json_dumps_sorted_compact_ascii(
    document: Any,
) -> None:
    # the statements route skips the float checks for a body without floats: the same text
    import json

    expected = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert canonical_json(document, plain=True, floats=False) == expected


def test_non_json_content_is_an_xapi_error() -> None:
    err = error_of(make_statement(context={"extensions": {"http://x.example/e": float("inf")}}))
    assert err.field == "statement"


# --------------------------------------------------------------------------- version header


@pytest.mark.parametrize("value", ["1.0", "1.0.0", "1.0.1", "1.0.2", "1.0.3", " 1.0.3 "])
def test_version_header_accepts_1_0_to_1_0_3(value: str) -> None:
    assert check_version_header(value) == value.strip()


@pytest.mark.parametrize("value", [None, "", "0.95", "1.0.4", "2.0.0", "1", "1.0.3a"])
def test_version_header_refuses_missing_or_other_versions(value: str | None) -> None:
    with pytest.raises(XapiError) as caught:
        check_version_header(value)
    assert caught.value.field == "X-Experience-API-Version"


# --------------------------------------------------------------------------- limits and text


def test_strings_with_nul_or_lone_surrogates_are_refused() -> None:
    assert (
        error_of(
            make_statement(actor={"account": {"homePage": "https://x.example", "name": "a\x00b"}})
        ).field
        == "actor.account.name"
    )
    names = {"en": "bad \ud800"}
    err = error_of(make_statement(object={"id": "urn:c:1", "definition": {"name": names}}))
    assert err.field == "object.definition.name.en"


def test_hostile_values_are_shortened_in_messages() -> None:
    err = error_of(make_statement(verb={"id": "no scheme " * 200}))
    assert len(str(err)) < 300


# --------------------------------------------------------------------------- fuzzing

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(
        ["mailto:a@example.com", "PT1H", "1.0.3", STATEMENT_ID, "Activity", "urn:x:1"]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every position in a JSON document (the root excluded)."""
    found: list[tuple[str | int, ...]] = []
    children: list[tuple[str | int, object]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _replace(document: Any, path: tuple[str | int, ...], value: object) -> Any:
    document = copy.deepcopy(document)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


FUZZ_BASE = make_statement(
    context={"registration": OTHER_ID, "extensions": {"http://x.example/e": [1, {"a": "b"}]}},
    object={
        "objectType": "Activity",
        "id": "https://lms.example.com/courses/42",
        "definition": {"name": {"nl": "Cursus", "en-US": "Course"}, "description": {"en": "d"}},
    },
    actor={"account": {"homePage": "https://lms.example.com", "name": "u1"}},
)
FUZZ_PATHS = _paths(FUZZ_BASE)


def _at(document: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


CONTAINER_PATHS = [(), *(p for p in FUZZ_PATHS if isinstance(_at(FUZZ_BASE, p), dict | list))]
FUZZ_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ_SETTINGS
@given(body=json_values)
def test_fuzz_any_json_body_raises_only_xapi_error(body: object) -> None:
    with contextlib.suppress(XapiError):
        parse_statements(body)


@FUZZ_SETTINGS
@given(path=st.sampled_from(FUZZ_PATHS), value=json_values)
def test_fuzz_any_value_in_any_position_raises_only_xapi_error(
    path: tuple[str | int, ...], value: object
) -> None:
    document = _replace(FUZZ_BASE, path, value)
    try:
        parsed = parse_statements([FUZZ_BASE | {"id": OTHER_ID}, document])
    except XapiError as err:
        assert err.field.startswith("statement")
    else:
        assert all(isinstance(p, ParsedStatement) for p in parsed)


@FUZZ_SETTINGS
@given(
    path=st.sampled_from(CONTAINER_PATHS),
    key=st.text(max_size=12),
    value=json_values,
)
def test_fuzz_extra_keys_anywhere_raise_only_xapi_error(
    path: tuple[str | int, ...], key: str, value: object
) -> None:
    document = copy.deepcopy(FUZZ_BASE)
    target = _at(document, path)
    if isinstance(target, dict):
        target[key] = value
    elif isinstance(target, list):
        target.append(value)
    with contextlib.suppress(XapiError):
        parse_statement(document)


@FUZZ_SETTINGS
@given(
    text=st.text(max_size=30)
    | st.from_regex(r"P(\d+[YMWD])*(T(\d+(\.\d+)?[HMS])*)?", fullmatch=True)
)
def test_fuzz_durations_raise_only_xapi_error_or_earn_at_most_a_day(text: str) -> None:
    try:
        minutes = parse_duration_minutes(text)
    except XapiError:
        return
    assert 0 <= minutes <= 1440


@FUZZ_SETTINGS
@given(text=st.text(max_size=40) | st.datetimes(timezones=st.timezones()).map(datetime.isoformat))
def test_fuzz_timestamps_raise_only_xapi_error_or_are_aware_utc(text: str) -> None:
    try:
        parsed = parse_timestamp(text, field="timestamp")
    except XapiError:
        return
    assert parsed.utcoffset() == timedelta(0)


def test_interaction_definitions_with_their_components_are_valid() -> None:
    definition = {
        "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
        "interactionType": "matching",
        "correctResponsesPattern": ["a[.]1[,]b[.]2"],
        "source": [{"id": "a", "description": {"en-US": "A"}}, {"id": "b"}],
        "target": [{"id": "1"}, {"id": "2"}],
        "extensions": {"https://example.com/ext": {"any": ["json"]}},
    }
    assert parse_one(object={"id": "urn:q:1", "definition": definition}).earns


# --------------------------------------------------------------------------- context and more


def test_a_full_context_authority_and_attachment_are_valid() -> None:
    parsed = parse_one(
        context={
            "registration": OTHER_ID,
            "instructor": {"mbox": "mailto:teacher@example.com"},
            "team": {"objectType": "Group", "member": [{"mbox": "mailto:bea@example.com"}]},
            "contextActivities": {
                "parent": {"id": "urn:course:1"},
                "grouping": [{"id": "urn:programme:1"}],
            },
            "revision": "2",
            "platform": "Moodle",
            "language": "nl-NL",
            "statement": {"objectType": "StatementRef", "id": OTHER_ID},
            "extensions": {"https://example.com/ext": 1},
        },
        authority={"objectType": "Agent", "mbox": "mailto:lms@example.com"},
        attachments=[
            {
                "usageType": "http://adlnet.gov/expapi/attachments/signature",
                "display": {"en-US": "Signature"},
                "contentType": "application/octet-stream",
                "length": 4235,
                "sha2": "a" * 64,
            }
        ],
        version="1.0.3",
        stored="2024-05-01T09:31:00Z",
    )
    assert parsed.earns


ATTACHMENT = {
    "usageType": "http://adlnet.gov/expapi/attachments/signature",
    "display": {"en-US": "Signature"},
    "contentType": "application/octet-stream",
    "length": 4235,
    "sha2": "a" * 64,
}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"context": {"registration": "r1"}}, "context.registration"),
        ({"context": {"instructor": {"name": "x"}}}, "context.instructor"),
        ({"context": {"team": {"mbox": "mailto:a@example.com"}}}, "context.team.objectType"),
        (
            {"context": {"contextActivities": {"parent": "urn:x"}}},
            "context.contextActivities.parent",
        ),
        ({"context": {"contextActivities": {"sibling": []}}}, "context.contextActivities.sibling"),
        (
            {"context": {"contextActivities": {"other": [{"id": "x"}]}}},
            "context.contextActivities.other[0].id",
        ),
        ({"context": {"language": "not a tag"}}, "context.language"),
        ({"context": {"statement": {"id": OTHER_ID}}}, "context.statement.objectType"),
        ({"context": {"extensions": {"nope": 1}}}, "context.extensions.nope"),
        ({"context": {"room": 1}}, "context.room"),
        (
            {
                "object": {"objectType": "StatementRef", "id": OTHER_ID},
                "context": {"platform": "x"},
            },
            "context.platform",
        ),
        ({"authority": {"name": "x"}}, "authority"),
        (
            {"authority": {"objectType": "Group", "member": [{"mbox": "mailto:a@b.nl"}]}},
            "authority.member",
        ),
        ({"attachments": {}}, "attachments"),
        ({"attachments": [{**ATTACHMENT, "usageType": "sig"}]}, "attachments[0].usageType"),
        ({"attachments": [{**ATTACHMENT, "display": "x"}]}, "attachments[0].display"),
        ({"attachments": [{**ATTACHMENT, "contentType": 5}]}, "attachments[0].contentType"),
        ({"attachments": [{**ATTACHMENT, "length": "10"}]}, "attachments[0].length"),
        ({"attachments": [{**ATTACHMENT, "sha2": "xyz"}]}, "attachments[0].sha2"),
        (
            {"attachments": [{k: v for k, v in ATTACHMENT.items() if k != "sha2"}]},
            "attachments[0].sha2",
        ),
        ({"version": "2.0.0"}, "version"),
        ({"stored": "yesterday"}, "stored"),
        ({"verb": {"id": COMPLETED, "displays": {}}}, "verb.displays"),
        ({"result": {"score": {"scaled": 0.5, "percent": 50}}}, "result.score.percent"),
        ({"result": {"extensions": {"speed": 1}}}, "result.extensions.speed"),
        ({"result": {"grade": "A"}}, "result.grade"),
    ],
)
def test_invalid_parts_are_refused_with_the_field(overrides: dict[str, Any], field: str) -> None:
    assert error_of(make_statement(**overrides)).field == field


def test_context_activities_are_stored_as_arrays_without_changing_the_input() -> None:
    context = {"contextActivities": {"parent": {"id": "urn:course:1"}, "other": []}}
    sub = {
        "objectType": "SubStatement",
        "actor": {"mbox": "mailto:bea@example.com"},
        "verb": {"id": COMPLETED},
        "object": {"id": "urn:course:2"},
        "context": context,
    }
    statement = make_statement(context=context, object=sub)
    parsed = parse_statement(statement, from_json=True)
    stored = parsed.statement
    assert stored["context"]["contextActivities"]["parent"] == [{"id": "urn:course:1"}]
    assert stored["object"]["context"]["contextActivities"]["parent"] == [{"id": "urn:course:1"}]
    assert statement["context"]["contextActivities"]["parent"] == {"id": "urn:course:1"}
    assert parsed.stored_fingerprint == parse_statement(statement).stored_fingerprint
