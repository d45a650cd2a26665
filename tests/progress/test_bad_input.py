"""Bad input to the progress endpoints is a 400 that names the field."""

import base64
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import World, signed_in_client
from tests.progress.activity import local_today

IN_A_WEEK = str(local_today() + timedelta(days=7))


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("PUT", "/api/v1/me/goals/weekly", {"minutes": 1201}, "minutes"),
        ("PUT", "/api/v1/me/goals/weekly", {"minutes": -1}, "minutes"),
        ("PUT", "/api/v1/me/goals/weekly", {"minutes": "lots"}, "minutes"),
        ("PUT", "/api/v1/me/goals/weekly", {}, "minutes"),
        ("POST", "/api/v1/me/goals", {"kind": "finish_course", "due_on": IN_A_WEEK}, "course_id"),
        (
            "POST",
            "/api/v1/me/goals",
            {"kind": "competency_events", "competency_id": 1, "due_on": IN_A_WEEK},
            "count",
        ),
        ("POST", "/api/v1/me/goals", {"kind": "read_a_book", "due_on": IN_A_WEEK}, "kind"),
        ("POST", "/api/v1/me/goals", {"kind": "finish_course", "course_id": 1}, "due_on"),
        (
            "POST",
            "/api/v1/me/goals",
            {"kind": "finish_course", "course_id": 1, "due_on": "next week"},
            "due_on",
        ),
        ("POST", "/api/v1/me/pauses", {"start_date": IN_A_WEEK, "end_date": 5}, "end_date"),
        ("GET", "/api/v1/me/history?limit=0", None, "limit"),
        ("GET", "/api/v1/me/history?limit=101", None, "limit"),
        ("GET", "/api/v1/me/history?before=not*a*cursor", None, "before"),
        ("GET", "/api/v1/me/xp?weeks=0", None, "weeks"),
        ("GET", "/api/v1/me/xp?weeks=many", None, "weeks"),
        ("GET", "/api/v1/leaderboards/organisation?week=2024-13", None, "week"),
        ("GET", "/api/v1/leaderboards/organisation?limit=0", None, "limit"),
    ],
)
async def test_malformed_input_is_a_400_listing_the_field(
    app: Litestar, world: World, method: str, url: str, body: object, field: str
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        response = await sam.request(method, url, json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["detail"]
    assert [e["key"] for e in error["extra"]] == [field], response.text


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/me/history?before=bm90LWEtY3Vyc29y", "before"),  # well-formed, no cursor
        ("/api/v1/leaderboards/organisation?week=2024-W54", "week"),  # 2024 has 52 weeks
        ("/api/v1/leaderboards/organisation?week=9999-W52", "week"),
    ],
)
async def test_a_well_formed_value_that_means_nothing_is_a_400_naming_the_field(
    app: Litestar, world: World, url: str, field: str
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        response = await sam.get(url)
    assert response.status_code == 400, response.text
    assert response.json()["detail"]
    assert response.json()["extra"] == {"field": field}


async def test_integrations_cannot_use_a_learners_progress_endpoints(
    app: Litestar, world: World
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}"}
    async with AsyncTestClient(app=app) as client:
        for url in ("/api/v1/me/goals", "/api/v1/me/history", "/api/v1/leaderboards/organisation"):
            assert (await client.get(url, headers=headers)).status_code == 403
            assert (await client.get(url)).status_code == 401


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "before",
    [
        cursor("2024-01-01T00:00:00+00:00|" + str(2**70)),  # no such id can exist
        cursor("0001-01-01T00:00:00+05:00|3"),  # before the first representable instant
        cursor("2024-01-01T00:00:00|3"),  # no timezone
        cursor("2024-01-01T00:00:00+00:00"),
    ],
)
async def test_a_forged_history_cursor_is_a_400_naming_before(
    app: Litestar, world: World, before: str
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        response = await sam.get("/api/v1/me/history", params={"before": before})
    assert response.status_code == 400, response.text
    assert response.json()["extra"] == {"field": "before"}
