"""The badge designer: the console form and the JSON API over the same services."""

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry, BadgeAward, BadgeDefinition, BadgeEmblem
from tests.factories import World, signed_in_client

PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _form(**changes: str) -> dict[str, str]:
    form = {
        "name_nl": "Uurtjes",
        "name_en": "Hours",
        "description_nl": "Tijd voor leren",
        "description_en": "Time for learning",
        "measure": "hours",
        "competency_id": "",
        "starts_on": "",
        "ends_on": "",
        "tier_name_1": "bronze",
        "tier_threshold_1": "1",
        "tier_name_2": "silver",
        "tier_threshold_2": "2",
        "shape": "shield",
        "colour": "rose",
        "icon": "clock",
        "emblem_source": "generated",
        "action": "save",
    }
    form.update(changes)
    return form


async def _event(
    client: AsyncTestClient[Litestar], world: World, email: str, minutes: int, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/events",
        json={
            "id": f"e-{uuid.uuid4()}",
            "learner": {"email": email},
            "kind": "experience",
            "minutes": minutes,
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
            **extra,
        },
        headers={"Authorization": f"Bearer {world.a.api_key}"},
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _badges(ctx: AppContext, org_id: int) -> list[BadgeDefinition]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(BadgeDefinition).where(BadgeDefinition.organisation_id == org_id)
        )
        return list(rows.all())


async def _audit(ctx: AppContext, org_id: int) -> list[AuditEntry]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(AuditEntry)
            .where(AuditEntry.organisation_id == org_id)
            .order_by(col(AuditEntry.id))
        )
        return list(rows.all())


async def test_the_designer_creates_a_badge_in_hours_with_its_emblem_and_an_audit_entry(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        page = await admin.get("/console/badges/new?lang=en")
        assert page.status_code == 200
        assert "Hours of learning" in page.text and "Keep a streak going" in page.text
        created = await admin.post("/console/badges/new", data=_form())
        assert created.status_code == 303, created.text
        [badge] = await _badges(ctx, world.a.id)
        assert created.headers["location"] == f"/console/badges/{badge.id}"
        # hours in the form, minutes for the engine
        assert badge.criterion["kind"] == "total_minutes"
        assert [t["threshold"] for t in badge.tiers] == [60, 120]
        assert (badge.code, badge.name, badge.name_en) == ("hours", "Uurtjes", "Hours")
        emblem = await admin.get(f"/api/v1/badges/{badge.id}/emblem")
        assert emblem.headers["content-type"].startswith("image/svg+xml")
        assert emblem.headers["content-security-policy"] == (
            "default-src 'none'; style-src 'unsafe-inline'"
        )
        assert b"#be123c" in emblem.content  # rose
        again = await admin.get(
            f"/api/v1/badges/{badge.id}/emblem", headers={"If-None-Match": emblem.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""
        edit = await admin.get(f"/console/badges/{badge.id}?lang=en")
        assert "Learn for 2 hours in total" in edit.text
        listing = await admin.get("/console/badges?lang=en")
        assert "Uurtjes" in listing.text or "Hours" in listing.text
    [entry] = await _audit(ctx, world.a.id)
    assert (entry.action, entry.target_id) == ("badge.create", str(badge.id))
    assert "Uurtjes" in entry.summary


async def test_tiers_must_rise_and_a_streak_cannot_be_narrowed(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        falling = await admin.post("/console/badges/new?lang=en", data=_form(tier_threshold_2="1"))
        assert falling.status_code == 400
        assert "Each tier needs a higher number than the one before." in falling.text
        assert 'value="Uurtjes"' in falling.text  # values kept
        narrowed = await admin.post(
            "/console/badges/new?lang=en",
            data=_form(measure="streak", competency_id=str(world.a.competency_id)),
        )
        assert narrowed.status_code == 400
        assert "cannot be limited to a competency or period" in narrowed.text
        foreign = await admin.post(
            "/console/badges/new?lang=en",
            data=_form(measure="courses", competency_id=str(world.b.competency_id)),
        )
        assert foreign.status_code == 400
        nameless = await admin.post("/console/badges/new?lang=en", data=_form(name_nl=""))
        assert nameless.status_code == 400 and "This field is required." in nameless.text
        # the API says the same, with the field named
        api = await admin.post(
            "/api/v1/badges",
            json={
                "code": "falling",
                "name": "Falling",
                "criterion": {"kind": "event_count"},
                "tiers": [{"name": "a", "threshold": 5}, {"name": "b", "threshold": 2}],
            },
        )
        assert api.status_code == 400 and api.json()["detail"].startswith("tiers:")
        unknown = await admin.post(
            "/api/v1/badges",
            json={
                "code": "unknown",
                "name": "Unknown",
                "criterion": {"kind": "hours"},
                "tiers": [{"name": "a", "threshold": 5}],
            },
        )
        assert unknown.status_code == 400 and "criterion.kind" in unknown.json()["detail"]
    assert await _badges(ctx, world.a.id) == []


async def test_qualify_today_counts_learners_the_engine_would_award(
    app: Litestar, world: World, client: AsyncTestClient[Litestar]
) -> None:
    # Sam learned 2 hours, Mia 1 hour, Lou nothing: 3 active learners
    await _event(client, world, "sam@example.com", 60)
    await _event(client, world, "sam@example.com", 60)
    await _event(client, world, world.email("a", "manager"), 60)
    await _event(client, world, world.email("a", "manager"), 30)  # 90 minutes: still bronze
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        preview = await admin.post(
            "/console/badges/new?lang=en",
            data=_form(action="preview", tier_threshold_3="3", tier_name_3="gold"),
        )
        assert preview.status_code == 200
        assert "2 of 3 learners" in preview.text  # bronze: Sam and Mia
        assert "1 of 3 learners" in preview.text  # silver: Sam
        assert "0 of 3 learners" in preview.text  # gold: nobody
        assert await _badges_count(admin) == 0  # a preview stores nothing
        api = await admin.post(
            "/api/v1/badges/preview",
            json={
                "criterion": {"kind": "total_minutes"},
                "tiers": [
                    {"name": "bronze", "threshold": 60},
                    {"name": "silver", "threshold": 120},
                ],
                "language": "en",
            },
        )
        assert api.status_code == 200, api.text
        body = api.json()
        assert [t["learners"] for t in body["qualify_today"]] == [2, 1]
        assert body["learners"] == 3
        assert body["tiers"][1]["how_to_earn"] == "Learn for 2 hours in total"
        assert body["emblem_svg"].startswith("<svg")


async def _badges_count(admin: AsyncTestClient[Litestar]) -> int:
    listing = await admin.get("/api/v1/badges?include_inactive=true")
    return len(listing.json())


async def test_a_new_badge_counts_learning_from_before_it_existed(
    app: Litestar, world: World, client: AsyncTestClient[Litestar], ctx: AppContext
) -> None:
    await _event(client, world, "sam@example.com", 60)
    await _event(client, world, "sam@example.com", 50)
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        assert (await admin.post("/console/badges/new", data=_form())).status_code == 303
        [badge] = await _badges(ctx, world.a.id)
        stats = (await admin.get(f"/api/v1/badges/{badge.id}/stats")).json()
        assert [t["learners"] for t in stats["qualify_today"]] == [1, 0]
        assert [t["learners"] for t in stats["earned"]] == [0, 0]
    # 110 minutes from before the badge + 10 now: bronze (60) and silver (120) at once
    result = await _event(client, world, "sam@example.com", 10)
    assert len(result["badges"]) == 2, result
    async with ctx.sessionmaker() as session:
        awards = (
            await session.exec(select(BadgeAward).where(BadgeAward.badge_code == "hours"))
        ).all()
    assert sorted(a.tier for a in awards) == ["bronze", "silver"]


async def test_deactivate_hides_the_badge_from_learners_and_reactivate_brings_it_back(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        await admin.post("/console/badges/new", data=_form())
        [badge] = await _badges(ctx, world.a.id)
        off = await admin.post(f"/console/badges/{badge.id}/deactivate")
        assert off.status_code == 303
        inactive = await admin.get("/console/badges?status=inactive&lang=en")
        assert "Uurtjes" in inactive.text
        active = await admin.get("/console/badges?lang=en")
        assert f'href="/console/badges/{badge.id}"' not in active.text
        assert f'href="/console/badges/{badge.id}"' in inactive.text
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        assert [b["code"] for b in (await sam.get("/api/v1/badges")).json()] == []
        assert "hours" not in [b["code"] for b in (await sam.get("/api/v1/me/badges")).json()]
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        on = await admin.post(f"/api/v1/badges/{badge.id}/reactivate")
        assert on.status_code == 200 and on.json()["is_active"] is True
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        wall = (await sam.get("/api/v1/me/badges")).json()
        assert [b["code"] for b in wall] == ["hours"]
        assert wall[0]["emblem_url"] == f"/api/v1/badges/{badge.id}/emblem"
    actions = [e.action for e in await _audit(ctx, world.a.id)]
    assert actions == ["badge.create", "badge.deactivate", "badge.reactivate"]


async def test_editing_keeps_the_code_and_records_what_changed(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        await admin.post("/console/badges/new", data=_form())
        [badge] = await _badges(ctx, world.a.id)
        page = await admin.get(f"/console/badges/{badge.id}")
        assert 'value="2"' in page.text  # 120 minutes shown as 2 hours
        saved = await admin.post(
            f"/console/badges/{badge.id}",
            data=_form(name_nl="Leeruren", tier_threshold_2="4", colour="green"),
        )
        assert saved.status_code == 303, saved.text
    [row] = await _badges(ctx, world.a.id)
    assert (row.code, row.name, row.tiers[1]["threshold"]) == ("hours", "Leeruren", 240)
    async with ctx.sessionmaker() as session:
        emblem = (await session.exec(select(BadgeEmblem))).one()
    assert (emblem.colour, emblem.source) == ("green", "generated")
    entries = await _audit(ctx, world.a.id)
    assert [e.action for e in entries] == ["badge.create", "badge.update", "badge.emblem"]
    assert entries[1].details["name"] == {"from": "Uurtjes", "to": "Leeruren"}


async def test_uploads_are_sanitised_or_refused_through_the_console_and_the_api(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        await admin.post("/console/badges/new", data=_form())
        [badge] = await _badges(ctx, world.a.id)
        evil = (
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script>'
            b'<circle r="5" onclick="x()"/></svg>'
        )
        upload = await admin.post(
            f"/console/badges/{badge.id}/emblem",
            files={"file": ("evil.svg", evil, "image/svg+xml")},
        )
        assert upload.status_code == 303, upload.text
        served = await admin.get(f"/api/v1/badges/{badge.id}/emblem")
        assert served.headers["content-type"].startswith("image/svg+xml")
        assert b"<circle" in served.content
        assert b"script" not in served.content and b"onload" not in served.content
        assert b"onclick" not in served.content
        doctype = await admin.post(
            f"/console/badges/{badge.id}/emblem?lang=en",
            files={
                "file": (
                    "x.svg",
                    b'<!DOCTYPE svg [<!ENTITY a "b">]><svg xmlns="http://www.w3.org/2000/svg"/>',
                    "image/svg+xml",
                )
            },
        )
        assert doctype.status_code == 400 and "DOCTYPE" in doctype.text
        png = await admin.put(
            f"/api/v1/badges/{badge.id}/emblem",
            json={"image_base64": base64.b64encode(PNG_1x1).decode()},
        )
        assert png.status_code == 400 and "16 and 1024" in png.json()["detail"]
        big = await admin.put(
            f"/api/v1/badges/{badge.id}/emblem",
            json={"image_base64": base64.b64encode(b"<svg" + b" " * 205_000).decode()},
        )
        assert big.status_code == 400 and "200 KB" in big.json()["detail"]
        design = await admin.put(
            f"/api/v1/badges/{badge.id}/emblem",
            json={"design": {"shape": "star", "colour": "blue", "icon": "trophy"}},
        )
        assert design.status_code == 200
        assert b"#1d4ed8" in (await admin.get(f"/api/v1/badges/{badge.id}/emblem")).content
        bad_shape = await admin.put(
            f"/api/v1/badges/{badge.id}/emblem", json={"design": {"shape": "blob"}}
        )
        assert bad_shape.status_code == 400
    actions = [e.action for e in await _audit(ctx, world.a.id)]
    assert actions == ["badge.create", "badge.emblem", "badge.emblem"]


async def test_another_organisations_badge_is_404_in_the_console_and_the_api(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, world.email("b", "ld_admin")) as admin_b:
        admin_b.follow_redirects = False
        await admin_b.post("/console/badges/new", data=_form())
    [foreign] = await _badges(ctx, world.b.id)
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        admin.follow_redirects = False
        for response in (
            await admin.get(f"/console/badges/{foreign.id}"),
            await admin.post(f"/console/badges/{foreign.id}", data=_form()),
            await admin.post(f"/console/badges/{foreign.id}/deactivate"),
            await admin.get(f"/api/v1/badges/{foreign.id}/emblem"),
            await admin.get(f"/api/v1/badges/{foreign.id}/stats"),
            await admin.post(f"/api/v1/badges/{foreign.id}/deactivate"),
        ):
            assert response.status_code == 404
    [still] = await _badges(ctx, world.b.id)
    assert still.is_active and still.name == "Uurtjes"
