"""First run ("what's in it for me"): offered from Today, goal and reminder, the organisation's
offer, and only then notifications; Skip and Finish end it; Settings brings it back."""

import re

from litestar import Litestar
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import Course, Organisation
from tests.factories import World, signed_in_client


def _token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def test_today_offers_the_introduction_until_it_is_finished(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with ctx.sessionmaker() as session:
        org = (await session.exec(select(Organisation).where(Organisation.id == world.a.id))).one()
        org.settings = {**(org.settings or {}), "yearly_budget_cents": 150000}
        course = (await session.exec(select(Course).where(Course.id == world.a.course_id))).one()
        course.hot_skill = True
        session.add_all([org, course])
        await session.commit()
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        today = (await sam.get("/")).text
        assert "Nieuw hier?" in today and 'href="/welcome"' in today

        step1 = (await sam.get("/welcome")).text
        assert "Stap 1 van 3" in step1 and 'name="weekly_goal"' in step1
        assert "data-push" not in step1 and "notifications.js" not in step1
        posted = await sam.post(
            "/welcome",
            data={
                "_csrf_token": _token(step1),
                "action": "goal",
                "weekly_goal": "90",
                "reminder_time": "08:15",
            },
            follow_redirects=False,
        )
        assert posted.status_code == 303 and posted.headers["location"] == "/welcome?step=2"
        me = (await sam.get("/api/v1/me")).json()
        assert me["reminder_time"] == "08:15" and me["onboarded"] is False
        assert (await sam.get("/api/v1/me/goals")).json()["weekly"]["target_minutes"] == 90

        step2 = (await sam.get("/welcome?step=2")).text
        assert "Wat Acme je biedt" in step2 and "1.500,00 per jaar" in step2
        assert "Feedback geven (Acme)" in step2 and "Communicatie" in step2
        assert "data-push" not in step2

        step3 = (await sam.get("/welcome?step=3")).text
        assert "data-push-toggle" in step3 and "/static/js/notifications.js" in step3
        done = await sam.post(
            "/welcome",
            data={"_csrf_token": _token(step3), "action": "done"},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert (await sam.get("/api/v1/me")).json()["onboarded"] is True
        assert "Nieuw hier?" not in (await sam.get("/")).text
        # still reachable from Settings
        assert 'href="/welcome"' in (await sam.get("/settings")).text
        assert (await sam.get("/welcome")).status_code == 200


async def test_not_now_on_today_ends_the_introduction(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "manager")) as mia:
        today = (await mia.get("/")).text
        skipped = await mia.post(
            "/welcome",
            data={"_csrf_token": _token(today), "action": "skip"},
            follow_redirects=False,
        )
        assert skipped.status_code == 303
        assert "Nieuw hier?" not in (await mia.get("/")).text


async def test_a_bad_goal_is_explained_and_nothing_is_saved(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        step1 = (await sam.get("/welcome")).text
        bad = await sam.post(
            "/welcome",
            data={"_csrf_token": _token(step1), "action": "goal", "weekly_goal": "9999"},
        )
        assert bad.status_code == 400 and "tussen 0 en 1200" in bad.text
        assert (await sam.get("/api/v1/me/goals")).json()["weekly"]["target_minutes"] == 60
