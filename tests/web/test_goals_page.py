"""The goals page: set a goal with a date, see its pace in words, change it and finish it."""

import re
from datetime import timedelta

from httpx import Response
from litestar import Litestar

from backend.context import AppContext
from backend.db.models import Course
from tests.factories import World, signed_in_client
from tests.progress.activity import local_today


def _token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def _redirected(response: Response) -> Response:
    """The page a form post led to, after its 303 (post/redirect/get)."""
    assert [r.status_code for r in response.history] == [303], response.text[:500]
    assert response.status_code == 200
    return response


def _goal_ids(html: str) -> list[str]:
    return re.findall(r'<li id="goal-([0-9a-f]+)"', html)


async def _excel(ctx: AppContext, world: World) -> int:
    async with ctx.sessionmaker() as session:
        course = Course(organisation_id=world.a.id, title="Excel voor gevorderden", format="video")
        session.add(course)
        await session.commit()
        assert course.id is not None
        return course.id


async def test_a_learner_sets_changes_and_finishes_a_goal_in_dutch(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    excel = await _excel(ctx, world)
    due = local_today() + timedelta(days=21)
    async with signed_in_client(app, "sam@example.com") as sam:
        page = await sam.get("/goals")
        assert page.status_code == 200
        assert "Nog geen doelen met een datum" in page.text  # the empty state invites one
        assert "Doelen die je afrondt, bewaren we hier." in page.text
        token = _token(page.text)
        sam.headers.pop("x-csrf-token")  # the form's own token, as a browser sends it
        set_goal = await sam.post(
            "/goals",
            data={
                "_csrf_token": token,
                "kind": "courses",
                "course_ids": [str(world.a.course_id), str(excel)],
                "due_on": due.isoformat(),
            },
        )
        page = _redirected(set_goal)
        assert "Je doel staat. Succes!" in page.text
        [goal_id] = _goal_ids(page.text)
        card = page.text.split(f'id="goal-{goal_id}"', 1)[1].split("</li>\n    \n", 1)[0]
        assert "2 cursussen afronden" in card
        assert "Feedback geven (Acme)" in card and "Excel voor gevorderden" in card
        assert "Op schema" in card and "Je ligt op schema." in card
        assert "0 van 2" in card and "nog 21 dagen" in card

        changed = await sam.post(
            f"/goals/{goal_id}/change",
            data={
                "_csrf_token": token,
                "kind": "courses",
                "course_ids": [str(excel)],
                "due_on": (due + timedelta(days=7)).isoformat(),
            },
        )
        page = _redirected(changed)
        assert "Je doel is aangepast." in page.text and "1 cursus afronden" in page.text
        assert "nog 28 dagen" in page.text

        finished = await sam.post(f"/goals/{goal_id}/finish", data={"_csrf_token": token})
        page = _redirected(finished)
        assert _goal_ids(page.text) == []
        kept = page.text.split('id="finished-title"', 1)[1]
        assert "1 cursus afronden" in kept and "met 0 van 1" in kept
        assert "Je doel is gesloten en bewaard bij je afgeronde doelen." in page.text
        progress = await sam.get("/progress")
        assert 'href="/goals"' in progress.text


async def test_bad_goals_are_refused_with_a_message_in_the_learners_language(
    app: Litestar, world: World
) -> None:
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    async with signed_in_client(app, "sam@example.com") as sam:
        token = _token((await sam.get("/goals")).text)
        cases = [
            (
                {
                    "kind": "competency",
                    "competency_id": str(world.a.competency_id),
                    "count": "3",
                    "due_on": (local_today() - timedelta(days=1)).isoformat(),
                },
                "Kies een datum vanaf vandaag: wat voorbij is, is voorbij.",
            ),
            ({"kind": "courses", "due_on": tomorrow}, "Kies minstens één cursus."),
            (
                {"kind": "courses", "course_ids": str(world.b.course_id), "due_on": tomorrow},
                "Een van deze cursussen staat niet in jouw catalogus.",
            ),
            (
                {
                    "kind": "competency",
                    "competency_id": str(world.b.competency_id),
                    "count": "2",
                    "due_on": tomorrow,
                },
                "Deze competentie staat niet in jouw catalogus.",
            ),
            (
                {
                    "kind": "competency",
                    "competency_id": str(world.a.competency_id),
                    "count": "0",
                    "due_on": tomorrow,
                },
                "Kies hoe vaak: een getal van 1 tot 1000.",
            ),
            (
                {"kind": "courses", "course_ids": "1", "due_on": "morgen"},
                "Kies de datum waarop je je doel wilt halen.",
            ),
        ]
        for form, message in cases:
            response = await sam.post("/goals", data={"_csrf_token": token, **form})
            assert response.status_code == 400, form
            assert message in response.text, form
        unknown = await sam.post("/goals/abc123/finish", data={"_csrf_token": token})
        assert unknown.status_code == 400 and "Dit doel bestaat niet (meer)." in unknown.text
        sam.headers.pop("x-csrf-token")
        forged = await sam.post("/goals", data={"kind": "courses", "due_on": tomorrow})
        assert forged.status_code == 403
        assert _goal_ids((await sam.get("/goals")).text) == []


async def test_an_english_learner_reads_the_goals_page_in_english(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        assert (await sam.patch("/api/v1/me", json={"locale": "en"})).status_code == 200
        created = await sam.post(
            "/api/v1/me/goals",
            json={
                "kind": "competency_events",
                "competency_id": world.a.competency_id,
                "count": 4,
                "due_on": str(local_today()),
            },
        )
        assert created.status_code == 201
        page = await sam.get("/goals")
    html = page.text
    assert '<html lang="en">' in html
    assert "Your goals" in html and "New goal" in html and "Finished goals" in html
    assert "4 moments on Communicatie" in html and "Last day today" in html
    assert "You are on track." in html
    assert "Doelen" not in html
