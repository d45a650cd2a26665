"""People, teams and the organisation's settings, administered by L&D."""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry, SignInLink
from tests.factories import PASSWORD, World, sign_in, signed_in_client
from tests.mailbox import Mailbox, mail_app, mail_settings, smtp_mailbox

__all__ = ["mail_app", "mail_settings", "smtp_mailbox"]  # fixtures used by the tests below


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


# --- invitations, password resets, roles, teams (the console's API) -------------------------


async def audit_actions(ctx: AppContext, organisation_id: int) -> list[str]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(AuditEntry.action)
            .where(AuditEntry.organisation_id == organisation_id)
            .order_by(col(AuditEntry.id))
        )
        return list(rows.all())


async def set_password_through(
    app: Litestar, link: str, password: str = "a brand new passphrase"
) -> AsyncTestClient[Litestar]:
    """Open ``link`` like a browser, choose a password; returns the (signed-in) client."""
    client = AsyncTestClient(app=app)
    await client.__aenter__()
    path = urlparse(link).path
    page = await client.get(path)
    assert page.status_code == 200, page.text
    token = client.cookies.get("learnloop_csrf")
    response = await client.post(
        path,
        data={"password": password, "confirm": password},
        headers={"x-csrf-token": token or ""},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    client.headers["x-csrf-token"] = token or ""
    return client


async def test_an_invitation_is_mailed_and_its_link_works_once(
    mail_app: Litestar, world: World, ctx: AppContext, smtp_mailbox: Mailbox
) -> None:
    async with signed_in_client(mail_app, "ld@acme.example") as admin:
        created = await admin.post(
            "/api/v1/users",
            json={
                "email": "noor@acme.example",
                "display_name": "Noor Bakker",
                "locale": "en",
                "team_id": world.a.team_id,
            },
        )
        assert created.status_code == 201, created.text
        noor = created.json()
        assert noor["has_password"] is False
        assert [t["name"] for t in noor["teams"]] == ["Acme Support"]
        sent = await admin.post(f"/api/v1/users/{noor['id']}/invitation")
        assert sent.status_code == 201, sent.text
        assert sent.json()["mailed"] is True and sent.json()["link"] is None
    (mail,) = smtp_mailbox.wait_for(1)
    assert smtp_mailbox.recipients == [["noor@acme.example"]]
    assert mail["Subject"] == "You are invited to learnloop at Acme"
    text = Mailbox.text(mail)
    assert text.startswith("Hello Noor,") and "Lou Acme invited you" in text
    link = Mailbox.link(mail)
    assert link.startswith("http://localhost:8000/password/")
    client = await set_password_through(mail_app, link)
    me = (await client.get("/api/v1/me")).json()
    assert (me["email"], me["organisation"]["name"]) == ("noor@acme.example", "Acme")
    await client.__aexit__(None, None, None)
    # the link is spent: a second use is refused, and so is a made-up one
    async with AsyncTestClient(app=mail_app) as again:
        assert (await again.get(urlparse(link).path)).status_code == 410
        assert (await again.get("/password/not-a-real-token")).status_code == 410
    async with signed_in_client(mail_app, "noor@acme.example", "a brand new passphrase") as n:
        assert (await n.get("/api/v1/me")).status_code == 200
    assert await audit_actions(ctx, world.a.id) == [
        "user.create",
        "user.invite",
        "user.accept_invite",
    ]


async def test_the_invitation_mail_speaks_dutch_to_a_dutch_colleague(
    mail_app: Litestar, world: World, smtp_mailbox: Mailbox
) -> None:
    async with signed_in_client(mail_app, "ld@acme.example") as admin:
        created = await admin.post(
            "/api/v1/users",
            json={"email": "daan@acme.example", "display_name": "Daan de Vries", "locale": "nl"},
        )
        await admin.post(f"/api/v1/users/{created.json()['id']}/invitation")
    (mail,) = smtp_mailbox.wait_for(1)
    assert mail["Subject"] == "Je bent uitgenodigd voor learnloop bij Acme"
    text = Mailbox.text(mail)
    assert text.startswith("Hoi Daan,") and "Kies je wachtwoord" in text


async def test_without_a_mail_server_the_admin_gets_the_link_and_only_its_hash_is_stored(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        created = await admin.post(
            "/api/v1/users", json={"email": "ivo@acme.example", "display_name": "Ivo"}
        )
        sent = (await admin.post(f"/api/v1/users/{created.json()['id']}/invitation")).json()
    assert sent["mailed"] is False and sent["link"].startswith("http://localhost:8000/password/")
    token = urlparse(sent["link"]).path.rsplit("/", 1)[1]
    async with ctx.sessionmaker() as session:
        (stored,) = (await session.exec(select(SignInLink))).all()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash
    assert stored.expires_at - stored.created_at == timedelta(days=7)


async def test_an_expired_or_replaced_link_no_longer_works(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    sam_id = world.a.users["employee"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        first = (await admin.post(f"/api/v1/users/{sam_id}/password-reset")).json()["link"]
        second = (await admin.post(f"/api/v1/users/{sam_id}/password-reset")).json()["link"]
    async with AsyncTestClient(app=app) as browser:
        assert (await browser.get(urlparse(first).path)).status_code == 410
        assert (await browser.get(urlparse(second).path)).status_code == 200
        async with ctx.sessionmaker() as session:
            link = (await session.exec(select(SignInLink))).one()
            link.expires_at = datetime.now(UTC) - timedelta(minutes=1)
            session.add(link)
            await session.commit()
        response = await browser.get(urlparse(second).path)
        assert response.status_code == 410
        assert "no longer works" in response.text or "werkt niet meer" in response.text


async def test_a_reset_link_sets_a_new_password_and_signs_out_other_sessions(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    sam_id = world.a.users["employee"].id
    async with (
        signed_in_client(app, "sam@example.com") as old_session,
        signed_in_client(app, "ld@acme.example") as admin,
    ):
        sent = (await admin.post(f"/api/v1/users/{sam_id}/password-reset")).json()
        assert sent["purpose"] == "reset"
        new = await set_password_through(app, sent["link"], "sams new passphrase")
        assert (await new.get("/api/v1/me")).json()["id"] == sam_id
        await new.__aexit__(None, None, None)
        assert (await old_session.get("/api/v1/me")).status_code == 401
    async with signed_in_client(app, "sam@example.com", "sams new passphrase") as sam:
        assert (await sam.get("/api/v1/me")).status_code == 200
    assert (await audit_actions(ctx, world.a.id))[-2:] == [
        "user.password_reset",
        "user.password_set",
    ]


async def test_a_too_short_password_is_refused_and_the_link_stays_usable(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        link = (
            await admin.post(f"/api/v1/users/{world.a.users['employee'].id}/password-reset")
        ).json()["link"]
    async with AsyncTestClient(app=app) as browser:
        path = urlparse(link).path
        await browser.get(path)
        headers = {"x-csrf-token": browser.cookies.get("learnloop_csrf") or ""}
        short = await browser.post(
            path, data={"password": "short", "confirm": "short"}, headers=headers
        )
        assert short.status_code == 400
        other = await browser.post(
            path, data={"password": "long enough one", "confirm": "another one!!"}, headers=headers
        )
        assert other.status_code == 400
        assert (await browser.get(path)).status_code == 200


async def test_a_deactivated_person_cannot_sign_in_until_reactivated(
    app: Litestar, world: World, ctx: AppContext, client: AsyncTestClient[Litestar]
) -> None:
    mia_id = world.a.users["manager"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        link = (await admin.post(f"/api/v1/users/{mia_id}/password-reset")).json()["link"]
        off = await admin.patch(f"/api/v1/users/{mia_id}", json={"is_active": False})
        assert off.json()["is_active"] is False
        # no new links for a deactivated person, and the open one is withdrawn
        assert (await admin.post(f"/api/v1/users/{mia_id}/invitation")).status_code == 409
        await client.get("/")
        token = client.cookies.get("learnloop_csrf") or ""
        login = {"email": "manager@acme.example", "password": PASSWORD}
        refused = await client.post(
            "/api/v1/auth/login", json=login, headers={"x-csrf-token": token}
        )
        assert refused.status_code == 401
        assert (await client.get(urlparse(link).path)).status_code == 410
        on = await admin.patch(f"/api/v1/users/{mia_id}", json={"is_active": True})
        assert on.json()["is_active"] is True
    async with signed_in_client(app, "manager@acme.example") as mia:
        assert (await mia.get("/api/v1/me")).status_code == 200
    assert (await audit_actions(ctx, world.a.id)) == [
        "user.password_reset",
        "user.deactivate",
        "user.reactivate",
    ]


async def test_role_changes_are_recorded_in_the_audit_log(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    sam_id = world.a.users["employee"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.patch(
            f"/api/v1/users/{sam_id}", json={"roles": ["employee", "ld_admin"]}
        )
        assert response.json()["roles"] == ["employee", "ld_admin"]
        # the same roles again change nothing and record nothing
        await admin.patch(f"/api/v1/users/{sam_id}", json={"roles": ["ld_admin", "employee"]})
    async with signed_in_client(app, "sam@example.com") as sam:
        assert (await sam.get("/console")).status_code == 200
    async with ctx.sessionmaker() as session:
        (entry,) = (await session.exec(select(AuditEntry))).all()
    assert (entry.action, entry.actor_name, entry.target_id) == (
        "user.roles",
        "Lou Acme",
        str(sam_id),
    )
    assert entry.details == {"before": ["employee"], "after": ["employee", "ld_admin"]}


async def test_moving_a_person_to_another_team_takes_them_out_of_the_old_one(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    mia_id = world.a.users["manager"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        planning = (await admin.post("/api/v1/teams", json={"name": "Planning"})).json()
        moved = await admin.put(f"/api/v1/users/{mia_id}/team", json={"team_id": planning["id"]})
        assert moved.status_code == 200, moved.text
        assert moved.json()["teams"] == [
            {"id": planning["id"], "name": "Planning", "is_manager": False}
        ]
        support = (await admin.get(f"/api/v1/teams/{world.a.team_id}")).json()
        assert members(support) == [("Sam Acme", False)]
        out = await admin.put(f"/api/v1/users/{mia_id}/team", json={"team_id": None})
        assert out.json()["teams"] == []
    actions = await audit_actions(ctx, world.a.id)
    assert actions == ["team.create", "user.move_team", "user.move_team"]


async def test_teams_are_renamed_given_managers_and_deleted_when_empty(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    sam_id, mia_id = world.a.users["employee"].id, world.a.users["manager"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        renamed = await admin.patch(
            f"/api/v1/teams/{world.a.team_id}",
            json={"name": "Klantenservice", "manager_ids": [sam_id]},
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == "Klantenservice"
        assert members(renamed.json()) == [("Mia Acme", False), ("Sam Acme", True)]
        taken = await admin.post("/api/v1/teams", json={"name": "Spare"})
        clash = await admin.patch(f"/api/v1/teams/{world.a.team_id}", json={"name": "Spare"})
        assert clash.status_code == 409
        full = await admin.delete(f"/api/v1/teams/{world.a.team_id}")
        assert full.status_code == 409 and "member" in full.json()["detail"]
        assert (await admin.delete(f"/api/v1/teams/{taken.json()['id']}")).status_code == 204
        names = [t["name"] for t in (await admin.get("/api/v1/teams")).json()]
        assert names == ["Klantenservice"]
    async with signed_in_client(app, "sam@example.com") as sam:
        assert "manager" in (await sam.get("/api/v1/me")).json()["roles"]
    assert mia_id  # Mia stays a member, no longer a manager (checked above)
    assert await audit_actions(ctx, world.a.id) == [
        "team.rename",
        "team.managers",
        "team.create",
        "team.delete",
    ]


async def test_people_are_filtered_by_team_role_and_status(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        await admin.post("/api/v1/users", json={"email": "new@acme.example", "display_name": "Nel"})

        async def names(**params: object) -> list[str]:
            response = await admin.get("/api/v1/users", params=params)
            assert response.status_code == 200, response.text
            return [p["display_name"] for p in response.json()]

        assert await names(team_id=world.a.team_id) == ["Mia Acme", "Sam Acme"]
        assert await names(role="ld_admin") == ["Lou Acme"]
        assert await names(role="manager") == ["Mia Acme"]
        assert await names(status="invited") == ["Nel"]
        assert await names(status="active", sort="name", descending=True) == [
            "Sam Acme",
            "Mia Acme",
            "Lou Acme",
        ]
        assert await names(q="ACME.example", sort="email") == ["Lou Acme", "Mia Acme", "Nel"]
        assert (await admin.get("/api/v1/users", params={"sort": "password"})).status_code == 400
        assert (await admin.get("/api/v1/users", params={"role": "boss"})).status_code == 400


async def test_another_organisations_people_and_teams_are_not_found(
    app: Litestar, world: World
) -> None:
    b_sam, b_team = world.b.users["employee"].id, world.b.team_id
    a_sam = world.a.users["employee"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        for method, url, body in (
            ("POST", f"/api/v1/users/{b_sam}/invitation", None),
            ("POST", f"/api/v1/users/{b_sam}/password-reset", None),
            ("PUT", f"/api/v1/users/{b_sam}/team", {"team_id": world.a.team_id}),
            ("PUT", f"/api/v1/users/{a_sam}/team", {"team_id": b_team}),
            ("PATCH", f"/api/v1/teams/{b_team}", {"name": "Mine now"}),
            ("PATCH", f"/api/v1/teams/{world.a.team_id}", {"manager_ids": [b_sam]}),
            ("DELETE", f"/api/v1/teams/{b_team}", None),
            (
                "POST",
                "/api/v1/users",
                {"email": "x@acme.example", "display_name": "X", "team_id": b_team},
            ),
        ):
            response = await admin.request(method, url, json=body)
            assert response.status_code == 404, (method, url, response.text)


async def test_forgot_password_answers_the_same_and_mails_only_known_addresses(
    mail_app: Litestar, world: World, smtp_mailbox: Mailbox
) -> None:
    async with AsyncTestClient(app=mail_app) as client:
        await client.get("/")
        headers = {"x-csrf-token": client.cookies.get("learnloop_csrf") or ""}
        answers = [
            await client.post(
                "/api/v1/auth/forgot-password", json={"email": email}, headers=headers
            )
            for email in ("nobody@acme.example", "Manager@Acme.example")
        ]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    (mail,) = smtp_mailbox.wait_for(1)
    assert smtp_mailbox.recipients == [["manager@acme.example"]]
    assert mail["Subject"] == "Een nieuw wachtwoord voor learnloop bij Acme"
    assert "24 uur" in Mailbox.text(mail) or "geldig tot" in Mailbox.text(mail)


async def test_forgot_password_without_mail_keeps_the_link_an_admin_passed_on(
    app: Litestar, world: World
) -> None:
    sam_id = world.a.users["employee"].id
    async with signed_in_client(app, "ld@acme.example") as admin:
        link = (await admin.post(f"/api/v1/users/{sam_id}/invitation")).json()["link"]
    async with AsyncTestClient(app=app) as stranger:
        await stranger.get("/")
        headers = {"x-csrf-token": stranger.cookies.get("learnloop_csrf") or ""}
        asked = await stranger.post(
            "/api/v1/auth/forgot-password", json={"email": "sam@example.com"}, headers=headers
        )
        assert asked.status_code == 202
        assert (await stranger.get(urlparse(link).path)).status_code == 200
