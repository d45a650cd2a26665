"""The catalogue: L&D admins add courses and competencies; everyone searches them."""

from litestar import Litestar

from tests.factories import World, signed_in_client


async def test_ld_admin_adds_a_course_that_colleagues_find_by_search_and_filters(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        competency = (
            await admin.post(
                "/api/v1/competencies", json={"name": "Data & AI", "description": "Werken met data"}
            )
        ).json()
        response = await admin.post(
            "/api/v1/courses",
            json={
                "title": "Prompting voor beginners",
                "provider": "GoodHabitz",
                "format": "elearning",
                "duration_minutes": 30,
                "cost_cents": 0,
                "hot_skill": True,
                "url": "https://example.com/prompting",
                "xapi_activity_id": "https://lms.acme.example/courses/prompting",
                "competency_ids": [competency["id"]],
            },
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["competencies"] == [{"id": competency["id"], "name": "Data & AI"}]
    async with signed_in_client(app, "sam@example.com") as employee:
        found = (await employee.get("/api/v1/courses", params={"q": "prompting"})).json()
        assert [c["title"] for c in found] == ["Prompting voor beginners"]
        hot = (await employee.get("/api/v1/courses", params={"hot_skill": "true"})).json()
        assert [c["id"] for c in hot] == [created["id"]]
        by_competency = (
            await employee.get("/api/v1/courses", params={"competency_id": competency["id"]})
        ).json()
        assert [c["id"] for c in by_competency] == [created["id"]]
        short = (await employee.get("/api/v1/courses", params={"max_minutes": 20})).json()
        assert created["id"] not in [c["id"] for c in short]
        one = (await employee.get(f"/api/v1/courses/{created['id']}")).json()
        assert one["provider"] == "GoodHabitz"


async def test_employee_cannot_change_the_catalogue(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "sam@example.com") as employee:
        response = await employee.post("/api/v1/courses", json={"title": "Mijn eigen cursus"})
        assert response.status_code == 403
        assert "ld_admin" in response.json()["detail"]
        titles = [c["title"] for c in (await employee.get("/api/v1/courses")).json()]
        assert "Mijn eigen cursus" not in titles


async def test_duplicate_activity_id_is_a_conflict_not_a_crash(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/courses",
            json={
                "title": "Dubbel",
                "xapi_activity_id": "https://lms.acme.example/courses/feedback",
            },
        )
        assert response.status_code == 409
        assert "already exists" in response.json()["detail"]


async def test_course_update_changes_only_given_fields(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.patch(
            f"/api/v1/courses/{world.a.course_id}", json={"hot_skill": True, "competency_ids": []}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["hot_skill"] is True
        assert body["title"] == "Feedback geven (Acme)"
        assert body["competencies"] == []


async def test_unknown_competency_on_a_course_is_a_404_with_the_id(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/courses", json={"title": "X", "competency_ids": [world.b.competency_id]}
        )
        assert response.status_code == 404
        assert str(world.b.competency_id) in response.json()["detail"]
        titles = [c["title"] for c in (await admin.get("/api/v1/courses")).json()]
        assert "X" not in titles


async def test_bad_course_fields_say_what_is_wrong(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/courses", json={"title": "", "duration_minutes": -5, "format": "hologram"}
        )
        assert response.status_code == 400
        keys = {e.get("key") for e in response.json()["extra"]}
        assert keys == {"title", "duration_minutes", "format"}
