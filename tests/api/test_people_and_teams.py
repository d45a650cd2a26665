"""People, teams and the organisation's settings, administered by L&D."""

from typing import Any

from litestar import Litestar

from tests.factories import World, sign_in, signed_in_client


async def test_ld_admin_adds_a_person_who_can_then_sign_in(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/users",
            json={
                "email": "Noor.Bakker@Acme.example",
                "display_name": "Noor Bakker",
                "password": "een lang wachtwoord",
                "locale": "en",
            },
        )
        assert response.status_code == 201, response.text
        assert response.json()["email"] == "noor.bakker@acme.example"
        again = await admin.post(
            "/api/v1/users", json={"email": "noor.bakker@acme.example", "display_name": "Noor"}
        )
        assert again.status_code == 409
    async with signed_in_client(app, "noor.bakker@acme.example", "een lang wachtwoord") as noor:
        me = (await noor.get("/api/v1/me")).json()
        assert me["locale"] == "en" and me["timezone"] == "Europe/Amsterdam"


async def test_learner_changes_own_language_and_timezone_with_validation(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        response = await sam.patch("/api/v1/me", json={"timezone": "Mars/Olympus"})
        assert response.status_code == 400
        assert "unknown timezone" in response.text
        response = await sam.patch(
            "/api/v1/me", json={"timezone": "America/Curacao", "locale": "en"}
        )
        assert response.status_code == 200
        assert response.json()["timezone"] == "America/Curacao"
        assert (await sam.get("/api/v1/me")).json()["locale"] == "en"


async def test_ld_admin_cannot_lock_themselves_out(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        own_id = world.a.users["ld_admin"].id
        response = await admin.patch(f"/api/v1/users/{own_id}", json={"roles": ["employee"]})
        assert response.status_code == 409
        assert (await admin.get("/api/v1/me")).json()["roles"] == ["employee", "ld_admin"]


def members(team: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(m["display_name"], m["is_manager"]) for m in team["members"]]


async def test_teams_show_members_and_managers(app: Litestar, world: World) -> None:
    sam_id, lou_id = world.a.users["employee"].id, world.a.users["ld_admin"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        created = await admin.post(
            "/api/v1/teams", json={"name": "Planning", "manager_ids": [sam_id]}
        )
        assert created.status_code == 201, created.text
        team = created.json()
        assert team["managers"] == ["Sam Acme"] and members(team) == [("Sam Acme", True)]
        response = await admin.put(
            f"/api/v1/teams/{team['id']}/members/{lou_id}", json={"is_manager": False}
        )
        assert response.status_code == 200, response.text
        assert response.json()["member_count"] == 2
        assert members(response.json()) == [("Lou Acme", False), ("Sam Acme", True)]
        duplicate = await admin.post("/api/v1/teams", json={"name": "Planning"})
        assert duplicate.status_code == 409
        assert [t["name"] for t in (await admin.get("/api/v1/teams")).json()] == [
            "Acme Support",
            "Planning",
        ]
        # a plain member does not become a manager
        assert (await admin.get("/api/v1/me")).json()["roles"] == ["employee", "ld_admin"]
    async with signed_in_client(app, "sam@example.com") as sam:
        # being made a team's manager grants the manager role
        assert (await sam.get("/api/v1/me")).json()["roles"] == ["employee", "manager"]
        teams = {t["name"]: t for t in (await sam.get("/api/v1/teams")).json()}
        planning = teams["Planning"]
        assert (planning["member_count"], planning["managers"]) == (2, ["Sam Acme"])
        assert teams["Acme Support"]["managers"] == ["Mia Acme"]


async def test_making_a_member_a_manager_grants_the_manager_role(
    app: Litestar, world: World
) -> None:
    sam_id = world.a.users["employee"].id
    url = f"/api/v1/teams/{world.a.team_id}/members/{sam_id}"
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.put(url, json={"is_manager": True})
        assert response.status_code == 200, response.text
        assert members(response.json()) == [("Mia Acme", True), ("Sam Acme", True)]
        assert response.json()["managers"] == ["Mia Acme", "Sam Acme"]
    async with signed_in_client(app, "sam@example.com") as sam:
        assert (await sam.get("/api/v1/me")).json()["roles"] == ["employee", "manager"]


async def test_removing_a_member_takes_them_out_of_the_team(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        employee_id = world.a.users["employee"].id
        assert (
            await admin.delete(f"/api/v1/teams/{world.a.team_id}/members/{employee_id}")
        ).status_code == 204
        detail = (await admin.get(f"/api/v1/teams/{world.a.team_id}")).json()
        assert members(detail) == [("Mia Acme", True)] and detail["member_count"] == 1
        again = await admin.delete(f"/api/v1/teams/{world.a.team_id}/members/{employee_id}")
        assert again.status_code == 404


async def test_organisation_settings_are_validated_as_a_whole(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.patch(
            "/api/v1/organisation", json={"settings": {"streak_days_per_week": 9}}
        )
        assert response.status_code == 400
        assert [e["key"] for e in response.json()["extra"]] == ["settings.streak_days_per_week"]
        unchanged = (await admin.get("/api/v1/organisation")).json()["settings"]
        assert unchanged["streak_days_per_week"] == 3
        response = await admin.patch(
            "/api/v1/organisation", json={"settings": {"streak_mode": "daily"}, "name": "Acme BV"}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["name"] == "Acme BV"
        assert body["settings"]["streak_mode"] == "daily"
        assert body["settings"]["min_group_size"] == 5


async def test_user_list_is_for_ld_admins(app: Litestar, world: World, client) -> None:
    await sign_in(client, "manager@acme.example")
    assert (await client.get("/api/v1/users")).status_code == 403
    async with signed_in_client(app, "ld@acme.example") as admin:
        people = (await admin.get("/api/v1/users", params={"q": "mia"})).json()
        assert [p["display_name"] for p in people] == ["Mia Acme"]
