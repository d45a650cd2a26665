"""Testimonials through the API: one per person per course, earning XP once, never across orgs;
L&D moderates them (approve, hide with a reason, restore) and decides whether they wait for
approval."""

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.auth.passwords import hash_password
from backend.context import AppContext
from backend.db.models import AuditEntry, User, XpLedgerEntry
from tests.factories import GLOBEX_SAM_PASSWORD, PASSWORD, World, signed_in_client


async def _xp(ctx: AppContext, user_id: int | None) -> int:
    async with ctx.sessionmaker() as session:
        amounts = (
            await session.exec(select(XpLedgerEntry.amount).where(XpLedgerEntry.user_id == user_id))
        ).all()
    return sum(amounts)


async def test_create_update_and_list(app: Litestar, ctx: AppContext, world: World) -> None:
    url = f"/api/v1/courses/{world.a.course_id}/testimonials"
    sam = world.a.users["employee"]
    async with signed_in_client(app, sam.email) as client:
        assert (await client.get(url)).json() == []
        created = await client.post(url, json={"text": "  Heel praktisch, meteen toegepast.  "})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["text"] == "Heel praktisch, meteen toegepast."
        assert body["created"] is True and body["xp"] == 15 and body["mine"] is True
        assert body["display_name"] == "Sam Acme"
        assert await _xp(ctx, sam.id) == 15

        updated = await client.post(url, json={"text": "Nog steeds goed, na een maand."})
        assert updated.status_code == 200, updated.text
        assert updated.json()["created"] is False and updated.json()["xp"] == 0
        assert updated.json()["id"] == body["id"]
        assert await _xp(ctx, sam.id) == 15, "rewriting earns nothing more"

        listed = (await client.get(url)).json()
        assert [t["text"] for t in listed] == ["Nog steeds goed, na een maand."]
        # writing it is one learning moment in my history, rewriting it is none
        history = (await client.get("/api/v1/me/history")).json()["items"]
        assert [(i["kind"], i["course_id"], i["xp"]) for i in history] == [
            ("testimonial", world.a.course_id, 15)
        ]

    async with signed_in_client(app, world.a.users["manager"].email) as mia:
        await mia.post(url, json={"text": "Goede oefeningen met rollenspel."})
        listed = (await mia.get(url)).json()
        assert [t["display_name"] for t in listed] == ["Mia Acme", "Sam Acme"], "newest first"
        assert [t["mine"] for t in listed] == [True, False]


async def test_validation_and_unknown_courses(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.a.users["employee"].email) as client:
        url = f"/api/v1/courses/{world.a.course_id}/testimonials"
        for body in (
            {"text": "Te kort"},
            {"text": "          x         "},
            {"text": "x" * 1001},
            {},
            {"text": "Lang genoeg maar", "organisation_id": world.b.id},
        ):
            response = await client.post(url, json=body)
            assert response.status_code == 400, (body, response.text)
        assert (await client.get(url)).json() == []
        for course_id in (world.b.course_id, 2**31, 999_999):
            other = f"/api/v1/courses/{course_id}/testimonials"
            assert (await client.get(other)).status_code == 404
            response = await client.post(other, json={"text": "Mag ik hier iets over zeggen?"})
            assert response.status_code == 404


async def test_other_organisation_sees_nothing(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    url_a = f"/api/v1/courses/{world.a.course_id}/testimonials"
    async with signed_in_client(app, world.a.users["employee"].email) as sam_a:
        created = await sam_a.post(url_a, json={"text": "Alleen voor Acme bedoeld."})
        assert created.status_code == 201
    async with ctx.sessionmaker() as session:
        session.add(
            User(
                organisation_id=world.b.id,
                email="gus@globex.example",
                display_name="Gus Globex",
                password_hash=hash_password(PASSWORD, ctx.settings.password_cost),
                roles=["employee"],
            )
        )
        await session.commit()
    async with signed_in_client(app, "gus@globex.example") as gus:
        response = await gus.get(url_a)
        assert response.status_code == 404 and "Acme" not in response.text
        write = await gus.post(url_a, json={"text": "Ik schrijf bij de buren."})
        assert write.status_code == 404
        own = await gus.get(f"/api/v1/courses/{world.b.course_id}/testimonials")
        assert own.status_code == 200 and own.json() == []
    async with signed_in_client(app, world.a.users["employee"].email) as sam_a:
        assert [t["text"] for t in (await sam_a.get(url_a)).json()] == ["Alleen voor Acme bedoeld."]


async def test_api_keys_read_but_do_not_write(app: Litestar, world: World) -> None:
    url = f"/api/v1/courses/{world.a.course_id}/testimonials"
    async with AsyncTestClient(app=app) as client:
        client.headers["Authorization"] = f"Bearer {world.a.api_key}"
        assert (await client.get(url)).status_code == 200
        response = await client.post(url, json={"text": "Een sleutel heeft geen mening."})
        assert response.status_code == 403
    async with AsyncTestClient(app=app) as anonymous:
        assert (await anonymous.get(url)).status_code == 401


# --- moderation ----------------------------------------------------------------------------


async def _audit(ctx: AppContext, org_id: int) -> list[tuple[str, str, dict[str, object]]]:
    async with ctx.sessionmaker() as session:
        rows = (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.organisation_id == org_id)
                .order_by(col(AuditEntry.id))
            )
        ).all()
    return [(r.action, r.summary, r.details) for r in rows]


async def _texts(client: AsyncTestClient[Litestar], course_id: int) -> list[str]:
    response = await client.get(f"/api/v1/courses/{course_id}/testimonials")
    assert response.status_code == 200, response.text
    return [t["text"] for t in response.json()]


async def test_a_hidden_testimonial_leaves_the_catalogue_but_its_author_still_sees_it(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    course = world.a.course_id
    async with (
        signed_in_client(app, world.email("a", "employee")) as sam,
        signed_in_client(app, world.email("a", "manager")) as mia,
        signed_in_client(app, world.email("a", "ld_admin")) as lou,
    ):
        written = await sam.post(
            f"/api/v1/courses/{course}/testimonials", json={"text": "Saaie sprekers, zonde."}
        )
        testimonial_id = written.json()["id"]
        assert written.json()["status"] == "pending"
        # approval is not required by default: colleagues see it at once
        assert await _texts(mia, course) == ["Saaie sprekers, zonde."]

        for body in ({}, {"reason": ""}, {"reason": "  x "}, {"reason": "x" * 501}):
            refused = await lou.post(f"/api/v1/testimonials/{testimonial_id}/hide", json=body)
            assert refused.status_code == 400, (body, refused.text)
            assert "reason" in refused.text
        assert await _texts(mia, course) == ["Saaie sprekers, zonde."], "nothing hidden yet"

        hidden = await lou.post(
            f"/api/v1/testimonials/{testimonial_id}/hide",
            json={"reason": "  Names a trainer   by name "},
        )
        assert hidden.status_code == 200, hidden.text
        assert hidden.json()["status"] == "hidden"
        assert hidden.json()["hidden_reason"] == "Names a trainer by name"
        assert hidden.json()["moderated_by"] == "Lou Acme"

        assert await _texts(mia, course) == []
        page = await mia.get(f"/catalogue/{course}?lang=en")
        assert "Saaie sprekers" not in page.text
        # the author sees theirs, marked, but never L&D's reason
        mine = (await sam.get(f"/api/v1/courses/{course}/testimonials")).json()
        assert [(t["text"], t["status"], t["mine"]) for t in mine] == [
            ("Saaie sprekers, zonde.", "hidden", True)
        ]
        assert "trainer" not in str(mine)
        page = await sam.get(f"/catalogue/{course}?lang=en")
        assert "Saaie sprekers, zonde." in page.text and "Hidden by L&D" in page.text
        assert "trainer" not in page.text
        # rewriting does not bring it back
        await sam.post(
            f"/api/v1/courses/{course}/testimonials", json={"text": "Toch best nuttig eigenlijk."}
        )
        assert await _texts(mia, course) == []

        restored = await lou.post(f"/api/v1/testimonials/{testimonial_id}/restore")
        assert restored.status_code == 200, restored.text
        assert restored.json()["status"] == "pending", "never approved: back in the queue"
        assert restored.json()["hidden_reason"] == ""
        assert await _texts(mia, course) == ["Toch best nuttig eigenlijk."]
        again = await lou.post(f"/api/v1/testimonials/{testimonial_id}/restore")
        assert again.status_code == 409

    assert [(a, s) for a, s, _ in await _audit(ctx, world.a.id)] == [
        ("testimonial.hide", "Hid the testimonial of Sam Acme on “Feedback geven (Acme)”"),
        ("testimonial.restore", "Restored the testimonial of Sam Acme on “Feedback geven (Acme)”"),
    ]
    details = (await _audit(ctx, world.a.id))[0][2]
    assert details == {"from": "pending", "to": "hidden", "reason": "Names a trainer by name"}
    assert await _audit(ctx, world.b.id) == []


async def test_with_approval_required_colleagues_see_only_approved_testimonials(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    course = world.a.course_id
    url = f"/api/v1/courses/{course}/testimonials"
    async with (
        signed_in_client(app, world.email("a", "employee")) as sam,
        signed_in_client(app, world.email("a", "manager")) as mia,
        signed_in_client(app, world.email("a", "ld_admin")) as lou,
    ):
        assert (await lou.get("/api/v1/testimonials/settings")).json() == {"need_approval": False}
        switched = await lou.put("/api/v1/testimonials/settings", json={"need_approval": True})
        assert switched.status_code == 200 and switched.json() == {"need_approval": True}
        assert (await lou.put("/api/v1/testimonials/settings", json={})).status_code == 400

        testimonial_id = (
            await sam.post(url, json={"text": "Meteen toepasbaar in mijn werk."})
        ).json()["id"]
        assert await _texts(mia, course) == []
        assert await _texts(sam, course) == ["Meteen toepasbaar in mijn werk."]
        page = await sam.get(f"/catalogue/{course}?lang=en")
        assert "Waiting for approval" in page.text
        assert "Waiting for approval" not in (await mia.get(f"/catalogue/{course}?lang=en")).text

        approved = await lou.post(f"/api/v1/testimonials/{testimonial_id}/approve")
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        assert await _texts(mia, course) == ["Meteen toepasbaar in mijn werk."]
        assert "Waiting for approval" not in (await sam.get(f"/catalogue/{course}?lang=en")).text

        # new words need a new approval; the same words keep theirs
        await sam.post(url, json={"text": "Meteen toepasbaar in mijn werk."})
        assert await _texts(mia, course) == ["Meteen toepasbaar in mijn werk."]
        await sam.post(url, json={"text": "Na een maand: nog steeds nuttig."})
        assert await _texts(mia, course) == []
        await lou.post(f"/api/v1/testimonials/{testimonial_id}/approve")
        assert await _texts(mia, course) == ["Na een maand: nog steeds nuttig."]

        # hide and restore an approved one: approved again, no second approval needed
        await lou.post(f"/api/v1/testimonials/{testimonial_id}/hide", json={"reason": "Check"})
        assert await _texts(mia, course) == []
        restored = await lou.post(f"/api/v1/testimonials/{testimonial_id}/restore")
        assert restored.json()["status"] == "approved"
        assert await _texts(mia, course) == ["Na een maand: nog steeds nuttig."]

        # switched off: pending ones show again
        await mia.post(url, json={"text": "Goede oefeningen met rollenspel."})
        assert await _texts(sam, course) == ["Na een maand: nog steeds nuttig."]
        await lou.put("/api/v1/testimonials/settings", json={"need_approval": False})
        assert await _texts(sam, course) == [
            "Goede oefeningen met rollenspel.",
            "Na een maand: nog steeds nuttig.",
        ]

    actions = [a for a, _, _ in await _audit(ctx, world.a.id)]
    assert actions == [
        "testimonial.settings",
        "testimonial.approve",
        "testimonial.approve",
        "testimonial.hide",
        "testimonial.restore",
        "testimonial.settings",
    ]


async def test_the_queue_puts_pending_first_and_filters_and_searches(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    course = world.a.course_id
    url = f"/api/v1/courses/{course}/testimonials"
    async with (
        signed_in_client(app, world.email("a", "employee")) as sam,
        signed_in_client(app, world.email("a", "manager")) as mia,
        signed_in_client(app, world.email("a", "ld_admin")) as lou,
    ):
        first = (await sam.post(url, json={"text": "Eerste: heel praktisch."})).json()["id"]
        await mia.post(url, json={"text": "Tweede: goede trainer."})
        await lou.post(f"/api/v1/testimonials/{first}/approve")
        await lou.post(url, json={"text": "Derde: 100% aanrader_!"})

        queue = (await lou.get("/api/v1/testimonials")).json()
        assert [(t["display_name"], t["status"]) for t in queue["items"]] == [
            ("Lou Acme", "pending"),
            ("Mia Acme", "pending"),
            ("Sam Acme", "approved"),
        ]
        assert queue["total"] == 3 and queue["need_approval"] is False
        assert queue["counts"] == {"pending": 2, "approved": 1, "hidden": 0}
        assert queue["items"][0]["course_title"] == "Feedback geven (Acme)"

        approved = (await lou.get("/api/v1/testimonials?status=approved")).json()
        assert [t["id"] for t in approved["items"]] == [first]
        for q, names in (
            ("trainer", ["Mia Acme"]),
            ("mia", ["Mia Acme"]),
            ("feedback", ["Lou Acme", "Mia Acme", "Sam Acme"]),
            ("100%", ["Lou Acme"]),
            ("r_!", ["Lou Acme"]),
            ("%", ["Lou Acme"]),
            ("nothing like it", []),
        ):
            found = (await lou.get("/api/v1/testimonials", params={"q": q})).json()
            assert [t["display_name"] for t in found["items"]] == names, q
        paged = (await lou.get("/api/v1/testimonials?per_page=2&page=2")).json()
        assert [t["display_name"] for t in paged["items"]] == ["Sam Acme"] and paged["total"] == 3
        assert (await lou.get("/api/v1/testimonials?status=gone")).status_code == 400


async def test_moderation_is_for_ld_admins_of_the_same_organisation(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("b", "manager")) as b_mia:
        written = await b_mia.post(
            f"/api/v1/courses/{world.b.course_id}/testimonials", json={"text": "Bij Globex top."}
        )
        b_id = written.json()["id"]
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        assert (await lou.get("/api/v1/testimonials")).json()["items"] == []
        assert (await lou.get(f"/api/v1/testimonials/{b_id}")).status_code == 404
        for action, body in (
            ("approve", None),
            ("hide", {"reason": "Not ours"}),
            ("restore", None),
        ):
            response = await lou.post(f"/api/v1/testimonials/{b_id}/{action}", json=body)
            assert response.status_code == 404, (action, response.text)
        assert (await lou.post(f"/api/v1/testimonials/{2**31}/approve")).status_code == 404
    for role in ("employee", "manager"):
        async with signed_in_client(app, world.email("a", role)) as person:
            assert (await person.get("/api/v1/testimonials")).status_code == 403
            assert (await person.post(f"/api/v1/testimonials/{b_id}/approve")).status_code == 403
            response = await person.put(
                "/api/v1/testimonials/settings", json={"need_approval": True}
            )
            assert response.status_code == 403
    async with signed_in_client(app, world.email("b", "employee"), GLOBEX_SAM_PASSWORD) as b_sam:
        texts = await _texts(b_sam, world.b.course_id)
        assert texts == ["Bij Globex top."], "org A's L&D changed nothing at Globex"


async def test_a_testimonial_shows_on_today_as_shared_not_as_zero_minutes(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        url = f"/api/v1/courses/{world.a.course_id}/testimonials"
        created = await sam.post(url, json={"text": "Heel praktisch, meteen toegepast."})
        assert created.status_code in (200, 201), created.text
        today = (await sam.get("/?lang=en")).text
    recent = today.split('id="recent-title"', 1)[1]
    assert "you shared your experience" in recent
    assert "0 minutes" not in recent
