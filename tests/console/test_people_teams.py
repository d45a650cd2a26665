"""Console: teams (list, create, rename, members and managers, delete when empty)."""

from litestar import Litestar
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry, Team
from tests.factories import World, signed_in_client


async def test_the_teams_page_lists_counts_and_managers_and_creates_a_team(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        page = await admin.get("/console/teams?lang=en")
        assert page.status_code == 200
        assert "Acme Support" in page.text and "Mia Acme" in page.text
        assert "Globex" not in page.text
        empty = await admin.post("/console/teams?lang=en", data={"name": " "})
        assert empty.status_code == 400 and "This field is required." in empty.text
        created = await admin.post(
            "/console/teams?lang=en", data={"name": "Planning"}, follow_redirects=False
        )
        assert created.status_code == 303
        again = await admin.post("/console/teams?lang=en", data={"name": "Planning"})
        assert again.status_code == 400 and "already exists" in again.text
    async with ctx.sessionmaker() as session:
        names = (
            await session.exec(select(Team.name).where(Team.organisation_id == world.a.id))
        ).all()
    assert sorted(names) == ["Acme Support", "Planning"]


async def test_members_are_added_made_manager_removed_and_the_empty_team_deleted(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    lou_id = world.a.users["ld_admin"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        team = (await admin.post("/api/v1/teams", json={"name": "Planning"})).json()
        url = f"/console/teams/{team['id']}"
        nobody = await admin.post(f"{url}/members?lang=en", data={"email": "ld@globex.example"})
        assert nobody.status_code == 400 and "Nobody in your organisation" in nobody.text
        added = await admin.post(f"{url}/members?lang=en", data={"email": "ld@acme.example"})
        assert "Lou Acme is now in team Planning." in added.text
        made = await admin.post(f"{url}/members/{lou_id}/manager?lang=en", data={"is_manager": "1"})
        assert "Lou Acme manages Planning now." in made.text
        listed = await admin.get("/console/teams?lang=en")
        assert "Lou Acme" in listed.text
        kept = await admin.post(f"{url}/delete?lang=en")
        assert "Move or remove the members of Planning first." in kept.text
        renamed = await admin.post(f"{url}?lang=en", data={"name": "Planning & control"})
        assert "Saved as Planning &amp; control." in renamed.text
        removed = await admin.post(f"{url}/members/{lou_id}/remove?lang=en")
        assert "Lou Acme left the team." in removed.text
        deleted = await admin.post(f"{url}/delete?lang=en", follow_redirects=False)
        assert deleted.headers["location"] == "/console/teams"
        assert (await admin.get(url)).status_code == 404
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(AuditEntry.action)
            .where(AuditEntry.organisation_id == world.a.id)
            .order_by(col(AuditEntry.id))
        )
        assert list(rows.all()) == [
            "team.create",
            "team.member_add",
            "team.member_update",
            "team.rename",
            "team.member_remove",
            "team.delete",
        ]


async def test_another_organisations_team_is_not_found(app: Litestar, world: World) -> None:
    b_team, b_sam = world.b.team_id, world.b.users["employee"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        assert (await admin.get(f"/console/teams/{b_team}")).status_code == 404
        for path, data in (
            (f"/console/teams/{b_team}", {"name": "Mine"}),
            (f"/console/teams/{b_team}/members", {"email": "ld@acme.example"}),
            (f"/console/teams/{b_team}/members/{b_sam}/manager", {"is_manager": "1"}),
            (f"/console/teams/{b_team}/members/{b_sam}/remove", {}),
            (f"/console/teams/{world.a.team_id}/members/{b_sam}/remove", {}),
            (f"/console/teams/{b_team}/delete", {}),
        ):
            response = await admin.post(path, data=data)
            assert response.status_code == 404, path
