"""Goals: the weekly minutes goal drives Today; dated goals follow real learning."""

import uuid
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import World, signed_in_client
from tests.progress.activity import event, ingest, local_today


async def test_setting_the_weekly_goal_changes_todays_goal_and_pace(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        ambitious = await sam.put("/api/v1/me/goals/weekly", json={"minutes": 1200})
        assert ambitious.status_code == 200, ambitious.text
        assert ambitious.json()["weekly"]["target_minutes"] == 1200
        today = (await sam.get("/api/v1/me/today")).json()
        # nothing learned yet, but Sam only just joined: nobody is behind on their first day
        assert today["weekly_goal"]["target_minutes"] == 1200
        assert today["weekly_goal"]["pace"] == "on_track"

        moment = {"client_id": str(uuid.uuid4()), "what": "Read about feedback", "minutes": 30}
        assert (await sam.post("/api/v1/me/moments", json=moment)).status_code == 201
        modest = await sam.put("/api/v1/me/goals/weekly", json={"minutes": 30})
        assert modest.status_code == 200
        assert modest.json()["weekly"]["pace"] == "done"
        today = (await sam.get("/api/v1/me/today")).json()
        assert today["weekly_goal"] == {
            "target_minutes": 30,
            "minutes": 30,
            "fraction": 1.0,
            "pace": "done",
        }
        goals = (await sam.get("/api/v1/me/goals")).json()
        assert goals["weekly"]["target_minutes"] == 30 and goals["weekly"]["minutes"] == 30


async def test_a_dated_goal_shows_progress_after_a_completion_of_its_course(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    due = local_today() + timedelta(days=14)
    async with signed_in_client(app, "sam@example.com") as sam:
        created = await sam.post(
            "/api/v1/me/goals",
            json={"kind": "finish_course", "course_id": world.a.course_id, "due_on": str(due)},
        )
        assert created.status_code == 201, created.text
        goal = created.json()
        assert goal["course_title"] == "Feedback geven (Acme)"
        assert (goal["done"], goal["target"], goal["pace"]) == (0, 1, "on_track")

        [result] = await ingest(
            client,
            world.a,
            [event("sam@example.com", "completion", course_id=world.a.course_id, minutes=45)],
        )
        [shown] = (await sam.get("/api/v1/me/goals")).json()["dated"]
        assert shown["id"] == goal["id"]
        assert (shown["done"], shown["fraction"], shown["pace"]) == (1, 1.0, "done")
        assert shown["reached_on"] == str(local_today())
        # reaching the goal paid XP on the completion that reached it
        [item] = (await sam.get("/api/v1/me/history")).json()["items"]
        assert item["xp"] == result["xp"] > 0

        assert (await sam.delete(f"/api/v1/me/goals/{goal['id']}")).status_code == 204
        assert (await sam.get("/api/v1/me/goals")).json()["dated"] == []
        assert (await sam.delete(f"/api/v1/me/goals/{goal['id']}")).status_code == 404


async def test_a_competency_goal_counts_learning_in_that_competency(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        created = await sam.post(
            "/api/v1/me/goals",
            json={
                "kind": "competency_events",
                "competency_id": world.a.competency_id,
                "count": 3,
                "due_on": str(local_today() + timedelta(days=30)),
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["competency_name"] == "Communicatie"
        learned = event("sam@example.com")
        learned["competency_id"] = world.a.competency_id
        await ingest(client, world.a, [learned, event("sam@example.com")])
        [goal] = (await sam.get("/api/v1/me/goals")).json()["dated"]
        assert (goal["done"], goal["target"]) == (1, 3)
        # set today, one of three done: ahead of the time that has passed
        assert goal["pace"] == "ahead"


async def test_goals_on_another_organisations_course_or_in_the_past_are_refused(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        foreign = await sam.post(
            "/api/v1/me/goals",
            json={
                "kind": "finish_course",
                "course_id": world.b.course_id,
                "due_on": str(local_today() + timedelta(days=7)),
            },
        )
        assert foreign.status_code == 404
        assert f"course {world.b.course_id}" in foreign.json()["detail"]
        foreign_competency = await sam.post(
            "/api/v1/me/goals",
            json={
                "kind": "competency_events",
                "competency_id": world.b.competency_id,
                "count": 2,
                "due_on": str(local_today() + timedelta(days=7)),
            },
        )
        assert foreign_competency.status_code == 404
        late = await sam.post(
            "/api/v1/me/goals",
            json={
                "kind": "finish_course",
                "course_id": world.a.course_id,
                "due_on": str(local_today() - timedelta(days=1)),
            },
        )
        assert late.status_code == 400 and "due_on" in late.json()["detail"]
        no_courses = await sam.post(
            "/api/v1/me/goals",
            json={"kind": "courses", "course_ids": [], "due_on": str(local_today())},
        )
        assert no_courses.status_code == 400 and "course_ids" in no_courses.text
        foreign_set = await sam.post(
            "/api/v1/me/goals",
            json={
                "kind": "courses",
                "course_ids": [world.a.course_id, world.b.course_id],
                "due_on": str(local_today()),
            },
        )
        assert foreign_set.status_code == 404
        assert f"course {world.b.course_id} not found" in foreign_set.json()["detail"]
        assert (await sam.get("/api/v1/me/goals")).json()["dated"] == []
