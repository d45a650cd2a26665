"""Console: the people pages (list, add, invite, roles, team, deactivate, reset) in the browser's
terms: forms posted as a browser posts them, pages read as text."""

import re
from urllib.parse import urlparse

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry, User
from tests.factories import World, signed_in_client
from tests.mailbox import Mailbox, mail_app, mail_settings, smtp_mailbox

__all__ = ["mail_app", "mail_settings", "smtp_mailbox"]  # fixtures used by the tests below


async def user_by_email(ctx: AppContext, email: str, organisation_id: int | None = None) -> User:
    async with ctx.sessionmaker() as session:
        query = select(User).where(User.email == email)
        if organisation_id is not None:
            query = query.where(User.organisation_id == organisation_id)
        return (await session.exec(query)).one()


async def actions(ctx: AppContext, organisation_id: int) -> list[str]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(AuditEntry.action)
            .where(AuditEntry.organisation_id == organisation_id)
            .order_by(col(AuditEntry.id))
        )
        return list(rows.all())


def listed(html: str) -> list[str]:
    """The names in the people table, top to bottom (the sidebar also shows the admin's)."""
    return re.findall(r'class="row-title" href="/console/people/\d+">([^<]+)<', html)


async def test_the_people_list_searches_filters_and_sorts(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        page = await admin.get("/console/people?lang=en")
        assert page.status_code == 200
        assert listed(page.text) == ["Lou Acme", "Mia Acme", "Sam Acme"]
        assert "Globex" not in page.text
        found = await admin.get("/console/people", params={"q": "manager@"})
        assert listed(found.text) == ["Mia Acme"]
        team = await admin.get("/console/people", params={"team": str(world.a.team_id)})
        assert listed(team.text) == ["Mia Acme", "Sam Acme"]
        admins = await admin.get("/console/people", params={"role": "ld_admin"})
        assert listed(admins.text) == ["Lou Acme"]
        nobody = await admin.get("/console/people", params={"status": "deactivated", "lang": "en"})
        assert listed(nobody.text) == [] and "Nobody matches" in nobody.text
        backwards = await admin.get("/console/people", params={"sort": "name", "dir": "desc"})
        assert listed(backwards.text) == ["Sam Acme", "Mia Acme", "Lou Acme"]
        # junk in the URL is ignored, not a server error
        junk = await admin.get(
            "/console/people", params={"team": "x", "role": "boss", "page": "-1"}
        )
        assert junk.status_code == 200


async def test_adding_a_person_shows_errors_inline_and_keeps_what_was_typed(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        form = await admin.get("/console/people/new?lang=en")
        assert form.status_code == 200 and 'name="email"' in form.text
        bad = await admin.post(
            "/console/people/new?lang=en",
            data={"display_name": "Noor Bakker", "email": "not-an-address", "locale": "en"},
        )
        assert bad.status_code == 400
        assert "Enter an e-mail address" in bad.text and 'value="Noor Bakker"' in bad.text
        taken = await admin.post(
            "/console/people/new?lang=en",
            data={"display_name": "Sam Two", "email": "SAM@example.com", "locale": "nl"},
        )
        assert taken.status_code == 400
        assert "already has this e-mail address" in taken.text


async def test_adding_and_inviting_without_mail_shows_the_link_once(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/console/people/new?lang=en",
            data={
                "display_name": "Noor Bakker",
                "email": "noor@acme.example",
                "locale": "en",
                "team_id": str(world.a.team_id),
                "role_manager": "1",
                "invite": "1",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        noor = await user_by_email(ctx, "noor@acme.example")
        assert response.headers["location"] == f"/console/people/{noor.id}"
        assert noor.roles == ["employee", "manager"] and noor.password_hash is None
        page = await admin.get(f"/console/people/{noor.id}?lang=en")
        assert "Noor Bakker was added." in page.text  # the flash of the POST (in English)
        assert "Invitation link for Noor Bakker" in page.text
        link = page.text.split('<code id="person-link">')[1].split("</code>")[0]
        assert link.startswith("http://localhost:8000/password/")
        again = await admin.get(f"/console/people/{noor.id}?lang=en")
        assert "/password/" not in again.text  # shown once only
        assert "the link works until" in again.text and "Send a new invitation" in again.text
        assert "Acme Support" in again.text
    async with AsyncTestClient(app=app) as browser:
        opened = await browser.get(urlparse(link).path)
        assert opened.status_code == 200 and "Welcome, Noor!" in opened.text
    assert await actions(ctx, world.a.id) == ["user.create", "user.invite"]


async def test_inviting_with_mail_configured_sends_it_and_shows_no_link(
    mail_app: Litestar, world: World, ctx: AppContext, smtp_mailbox: Mailbox
) -> None:
    async with signed_in_client(mail_app, "ld@acme.example") as admin:
        await admin.post(
            "/console/people/new",
            data={"display_name": "Daan de Vries", "email": "daan@acme.example", "locale": "nl"},
        )
        daan = await user_by_email(ctx, "daan@acme.example")
        sent = await admin.post(f"/console/people/{daan.id}/invite?lang=nl")
        assert "Er is een uitnodiging onderweg naar daan@acme.example." in sent.text
        assert "/password/" not in sent.text
    (mail,) = smtp_mailbox.wait_for(1)
    assert mail["To"] == "Daan de Vries <daan@acme.example>"
    assert "Lou Acme nodigt je uit" in Mailbox.text(mail)


async def test_roles_team_and_profile_change_through_their_forms(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    sam_id = world.a.users["employee"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        planning = (await admin.post("/api/v1/teams", json={"name": "Planning"})).json()
        url = f"/console/people/{sam_id}"
        roles = await admin.post(f"{url}/roles?lang=en", data={"role_ld_admin": "1"})
        assert "Roles of Sam Acme: Employee, L&amp;D admin." in roles.text
        moved = await admin.post(f"{url}/team?lang=en", data={"team_id": str(planning["id"])})
        assert "Sam Acme is now in team Planning." in moved.text
        renamed = await admin.post(
            f"{url}?lang=en", data={"display_name": "Sam Jansen", "locale": "en"}
        )
        assert "Saved." in renamed.text and "Sam Jansen" in renamed.text
        empty = await admin.post(f"{url}?lang=en", data={"display_name": "  ", "locale": "en"})
        assert empty.status_code == 400 and "This field is required." in empty.text
    sam = await user_by_email(ctx, "sam@example.com", world.a.id)
    assert (sam.display_name, sam.locale, sam.roles) == (
        "Sam Jansen",
        "en",
        ["employee", "ld_admin"],
    )
    assert await actions(ctx, world.a.id) == [
        "team.create",
        "user.roles",
        "user.move_team",
        "user.update",
    ]


async def test_an_admin_cannot_deactivate_themselves_from_the_console(
    app: Litestar, world: World
) -> None:
    lou_id = world.a.users["ld_admin"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        own = await admin.get(f"/console/people/{lou_id}?lang=en")
        assert "/deactivate" not in own.text and "(you)" in own.text
        refused = await admin.post(f"/console/people/{lou_id}/deactivate?lang=en")
        assert "You cannot deactivate yourself" in refused.text
        kept = await admin.post(f"/console/people/{lou_id}/roles?lang=en", data={})
        assert (
            "You cannot deactivate yourself or take away your own L&amp;D admin role" in kept.text
        )


async def test_deactivating_signs_the_person_out_and_reactivating_lets_them_back(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    mia_id = world.a.users["manager"].id
    async with (
        signed_in_client(app, "manager@acme.example") as mia,
        signed_in_client(app, "ld@acme.example") as admin,
    ):
        off = await admin.post(f"/console/people/{mia_id}/deactivate?lang=en")
        assert "Mia Acme is deactivated and signed out everywhere." in off.text
        assert "Gedeactiveerd" in off.text  # the page after the redirect: Lou reads Dutch
        assert (await mia.get("/api/v1/me")).status_code == 401
        deactivated = await admin.get("/console/people?status=deactivated")
        assert listed(deactivated.text) == ["Mia Acme"]
        on = await admin.post(f"/console/people/{mia_id}/reactivate?lang=en")
        assert "Mia Acme can sign in again." in on.text
    async with signed_in_client(app, "manager@acme.example") as again:
        assert (await again.get("/api/v1/me")).status_code == 200
    assert await actions(ctx, world.a.id) == ["user.deactivate", "user.reactivate"]


async def test_a_password_reset_link_is_shown_when_there_is_no_mail(
    app: Litestar, world: World
) -> None:
    sam_id = world.a.users["employee"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        page = await admin.post(f"/console/people/{sam_id}/reset")
        assert "Link voor een nieuw wachtwoord voor Sam Acme" in page.text
        assert "/password/" in page.text


async def test_another_organisations_person_is_not_found(app: Litestar, world: World) -> None:
    b_sam = world.b.users["employee"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        assert (await admin.get(f"/console/people/{b_sam}")).status_code == 404
        for action in ("invite", "reset", "deactivate", "reactivate", "roles", "team"):
            response = await admin.post(f"/console/people/{b_sam}/{action}", data={})
            assert response.status_code == 404, action
        moved = await admin.post(
            f"/console/people/{world.a.users['employee'].id}/team",
            data={"team_id": str(world.b.team_id)},
        )
        assert moved.status_code == 404
