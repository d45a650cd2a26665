"""Goals of a set of courses, and changing and finishing dated goals through the API."""

from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.context import AppContext
from backend.db.models import Course
from tests.factories import World, signed_in_client
from tests.progress.activity import event, ingest, local_today

GOALS = "/api/v1/me/goals"


async def _second_course(ctx: AppContext, world: World) -> int:
    async with ctx.sessionmaker() as session:
        course = Course(organisation_id=world.a.id, title="Excel voor gevorderden", format="video")
        session.add(course)
        await session.commit()
        assert course.id is not None
        return course.id


def _due(days: int) -> str:
    return str(local_today() + timedelta(days=days))


async def test_a_set_of_courses_counts_each_finished_course_once_until_all_are_done(
    app: Litestar, ctx: AppContext, client: AsyncTestClient[Litestar], world: World
) -> None:
    excel = await _second_course(ctx, world)
    feedback = world.a.course_id
    async with signed_in_client(app, "sam@example.com") as sam:
        created = await sam.post(
            GOALS, json={"kind": "courses", "course_ids": [feedback, excel], "due_on": _due(28)}
        )
        assert created.status_code == 201, created.text
        goal = created.json()
        assert (goal["kind"], goal["done"], goal["target"]) == ("courses", 0, 2)
        assert [c["title"] for c in goal["courses"]] == [
            "Feedback geven (Acme)",
            "Excel voor gevorderden",
        ]

        sam_finishes = event("sam@example.com", "completion", course_id=feedback, minutes=45)
        await ingest(client, world.a, [sam_finishes])
        [shown] = (await sam.get(GOALS)).json()["dated"]
        assert (shown["done"], shown["target"], shown["pace"]) == (1, 2, "ahead")
        assert [c["finished"] for c in shown["courses"]] == [True, False]

        await ingest(client, world.a, [event("sam@example.com", "completion", course_id=excel)])
        [shown] = (await sam.get(GOALS)).json()["dated"]
        assert (shown["done"], shown["pace"], shown["reached_on"]) == (
            2,
            "done",
            str(local_today()),
        )


async def test_a_goal_can_move_its_date_and_change_its_courses_but_not_into_the_past(
    app: Litestar, ctx: AppContext, client: AsyncTestClient[Litestar], world: World
) -> None:
    excel = await _second_course(ctx, world)
    await ingest(
        client, world.a, [event("sam@example.com", "completion", course_id=excel, minutes=30)]
    )
    async with signed_in_client(app, "sam@example.com") as sam:
        goal = (
            await sam.post(
                GOALS,
                json={"kind": "courses", "course_ids": [world.a.course_id], "due_on": _due(7)},
            )
        ).json()
        url = f"{GOALS}/{goal['id']}"
        # adding a course Sam finished today counts it straight away
        wider = await sam.patch(
            url, json={"course_ids": [world.a.course_id, excel], "due_on": _due(14)}
        )
        assert wider.status_code == 200, wider.text
        assert (wider.json()["done"], wider.json()["target"]) == (1, 2)
        assert wider.json()["due_on"] == _due(14)

        past = await sam.patch(url, json={"due_on": _due(-1)})
        assert past.status_code == 400 and "due_on" in past.json()["detail"]
        empty = await sam.patch(url, json={"course_ids": []})
        assert empty.status_code == 400 and "course_ids" in empty.text
        foreign = await sam.patch(url, json={"course_ids": [world.b.course_id]})
        assert foreign.status_code == 404
        assert f"course {world.b.course_id} not found" in foreign.json()["detail"]
        count = await sam.patch(url, json={"count": 3})
        assert count.status_code == 400 and "count" in count.json()["detail"]
        nothing = await sam.patch(url, json={})
        assert nothing.status_code == 400
        [kept] = (await sam.get(GOALS)).json()["dated"]
        assert (kept["due_on"], kept["target"]) == (_due(14), 2)


async def test_a_finished_goal_moves_to_the_finished_list_reached_or_given_up(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        hard = (
            await sam.post(
                GOALS,
                json={
                    "kind": "competency_events",
                    "competency_id": world.a.competency_id,
                    "count": 5,
                    "due_on": _due(30),
                },
            )
        ).json()
        easy = (
            await sam.post(
                GOALS,
                json={"kind": "finish_course", "course_id": world.a.course_id, "due_on": _due(10)},
            )
        ).json()
        fewer = await sam.patch(f"{GOALS}/{hard['id']}", json={"count": 2, "due_on": _due(20)})
        assert fewer.status_code == 200 and fewer.json()["target"] == 2
        await ingest(
            client, world.a, [event("sam@example.com", "completion", course_id=world.a.course_id)]
        )
        # a reached goal is not changed any more: it is finished
        reached = await sam.patch(f"{GOALS}/{easy['id']}", json={"due_on": _due(12)})
        assert reached.status_code == 409
        closed = await sam.post(f"{GOALS}/{easy['id']}/finish")
        assert closed.status_code == 200, closed.text
        assert (closed.json()["outcome"], closed.json()["reached_on"]) == (
            "reached",
            str(local_today()),
        )
        gave_up = await sam.post(f"{GOALS}/{hard['id']}/finish")
        assert gave_up.json()["outcome"] == "given_up"
        assert (await sam.post(f"{GOALS}/{hard['id']}/finish")).status_code == 404

        goals = (await sam.get(GOALS)).json()
    assert goals["dated"] == []
    assert [(g["id"], g["outcome"], g["done"], g["target"]) for g in goals["finished"]] == [
        (hard["id"], "given_up", 1, 2),  # the course is in that competency
        (easy["id"], "reached", 1, 1),
    ]
    assert goals["finished"][1]["course_title"] == "Feedback geven (Acme)"


async def test_someone_elses_goal_cannot_be_changed_or_finished(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        goal = (
            await sam.post(
                GOALS,
                json={"kind": "finish_course", "course_id": world.a.course_id, "due_on": _due(5)},
            )
        ).json()
    other = world.email("a", "manager")
    async with signed_in_client(app, other) as colleague:
        assert (
            await colleague.patch(f"{GOALS}/{goal['id']}", json={"due_on": _due(9)})
        ).status_code == 404
        assert (await colleague.post(f"{GOALS}/{goal['id']}/finish")).status_code == 404
    async with signed_in_client(app, "sam@example.com") as sam:
        [still] = (await sam.get(GOALS)).json()["dated"]
        assert still["due_on"] == _due(5)
