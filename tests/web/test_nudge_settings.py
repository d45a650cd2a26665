"""Settings for nudges: reminder time, quiet hours, kinds, planned pauses; form and JSON API."""

import re
from datetime import date, timedelta

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import World, signed_in_client


def _token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def _post(client: AsyncTestClient[Litestar], **fields: str | list[str]) -> httpx.Response:
    page = await client.get("/settings")
    return await client.post(
        "/settings", data={"_csrf_token": _token(page.text), **fields}, follow_redirects=False
    )


async def test_reminder_time_and_quiet_hours_persist_and_empty_means_usual_time(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        page = (await sam.get("/settings")).text
        assert "Herinner me om" in page and 'value="21:00"' in page and 'value="08:00"' in page
        saved = await _post(
            sam,
            section="reminders",
            reminder_time="07:45",
            quiet_hours_start="22:30",
            quiet_hours_end="06:15",
        )
        assert saved.status_code == 303
        me = (await sam.get("/api/v1/me")).json()
        assert (me["reminder_time"], me["quiet_hours_start"], me["quiet_hours_end"]) == (
            "07:45",
            "22:30",
            "06:15",
        )
        assert 'value="07:45"' in (await sam.get("/settings")).text
        await _post(
            sam,
            section="reminders",
            reminder_time="",
            quiet_hours_start="22:30",
            quiet_hours_end="06:15",
        )
        assert (await sam.get("/api/v1/me")).json()["reminder_time"] is None
        bad = await _post(
            sam,
            section="reminders",
            reminder_time="25:00",
            quiet_hours_start="22:30",
            quiet_hours_end="06:15",
        )
        assert bad.status_code == 400 and "Kies een tijd, zoals 08:30." in bad.text
        assert (await sam.get("/api/v1/me")).json()["reminder_time"] is None


async def test_quiet_hours_that_start_when_they_end_are_refused_with_a_reason(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        same = await _post(
            sam,
            section="reminders",
            reminder_time="",
            quiet_hours_start="22:00",
            quiet_hours_end="22:00",
        )
        assert same.status_code == 400
        assert "Stille uren hebben een begin en een eind nodig die verschillen" in same.text
        api = await sam.patch("/api/v1/me", json={"quiet_hours_start": "08:00"})
        assert api.status_code == 400  # the end is 08:00 already
        assert "quiet_hours_end" in api.text and "two different times" in api.text
        me = (await sam.get("/api/v1/me")).json()
        assert (me["quiet_hours_start"], me["quiet_hours_end"]) == ("21:00", "08:00")


async def test_unticked_nudge_kinds_are_switched_off(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        page = (await sam.get("/settings")).text
        assert (
            page.count('name="kinds"') == 9
            and page.count('name="kinds" type="checkbox" value=') == 9
        )
        wanted = ["reminder", "streak_at_risk", "goal", "challenge", "badge", "kudos", "budget"]
        saved = await _post(sam, section="nudges", kinds=wanted)
        assert saved.status_code == 303
        me = (await sam.get("/api/v1/me")).json()
        assert me["nudge_kinds_off"] == ["new_course", "testimonial_request"]
        page = (await sam.get("/settings")).text
        assert 'value="kudos" checked' in page and 'value="new_course" checked' not in page


async def test_a_planned_pause_can_be_added_and_removed_without_javascript(
    app: Litestar, world: World
) -> None:
    start = date.today() + timedelta(days=10)
    end = start + timedelta(days=4)
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        assert "Geen pauzes gepland." in (await sam.get("/settings")).text
        added = await _post(
            sam, section="pause_add", start_date=start.isoformat(), end_date=end.isoformat()
        )
        assert added.status_code == 303
        page = (await sam.get("/settings")).text
        assert "5 dagen" in page and f'name="start_date" value="{start.isoformat()}"' in page
        assert [p["start_date"] for p in (await sam.get("/api/v1/me/pauses")).json()] == [
            start.isoformat()
        ]
        overlap = await _post(
            sam, section="pause_add", start_date=end.isoformat(), end_date=end.isoformat()
        )
        assert overlap.status_code == 400
        assert (
            "Deze pauze kan niet worden gepland: hij begint vandaag of later, duurt hoogstens "
            "60 dagen en overlapt geen andere pauze." in overlap.text
        )
        backwards = await _post(
            sam, section="pause_add", start_date=end.isoformat(), end_date=start.isoformat()
        )
        assert backwards.status_code == 400 and "De laatste dag valt op of na" in backwards.text
        assert [p["start_date"] for p in (await sam.get("/api/v1/me/pauses")).json()] == [
            start.isoformat()
        ]
        removed = await _post(sam, section="pause_remove", start_date=start.isoformat())
        assert removed.status_code == 303
        assert (await sam.get("/api/v1/me/pauses")).json() == []


async def test_nudge_preferences_through_the_json_api(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        me = (await sam.get("/api/v1/me")).json()
        assert me["reminder_time"] is None and me["nudge_kinds_off"] == []
        changed = await sam.patch(
            "/api/v1/me",
            json={
                "reminder_time": "12:30",
                "quiet_hours_start": "20:00",
                "quiet_hours_end": "07:00",
                "nudge_kinds_off": ["budget", "badge", "budget"],
            },
        )
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert body["reminder_time"] == "12:30" and body["quiet_hours_start"] == "20:00"
        assert body["nudge_kinds_off"] == ["badge", "budget"]
        # a change of another field leaves the reminder as it was; null clears it
        await sam.patch("/api/v1/me", json={"leaderboard_opt_in": True})
        assert (await sam.get("/api/v1/me")).json()["reminder_time"] == "12:30"
        cleared = await sam.patch("/api/v1/me", json={"reminder_time": None})
        assert cleared.json()["reminder_time"] is None

        unknown = await sam.patch("/api/v1/me", json={"nudge_kinds_off": ["badge", "spam"]})
        assert unknown.status_code == 400 and "'spam'" in unknown.json()["detail"]
        for bad in ("7:5", "24:00", "12:30:00", "noon"):
            response = await sam.patch("/api/v1/me", json={"quiet_hours_end": bad})
            assert response.status_code == 400, bad
        assert (await sam.get("/api/v1/me")).json()["quiet_hours_end"] == "07:00"
