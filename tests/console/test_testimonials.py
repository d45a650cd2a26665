"""The testimonial moderation page: the queue, approve, hide with a reason, restore, the setting."""

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry
from backend.db.models import Testimonial as StoredTestimonial
from tests.factories import World, signed_in_client

PAGE = "/console/testimonials"


async def _write(app: Litestar, email: str, course_id: int, text: str) -> int:
    async with signed_in_client(app, email) as client:
        response = await client.post(
            f"/api/v1/courses/{course_id}/testimonials", json={"text": text}
        )
        assert response.status_code == 201, response.text
        testimonial_id: int = response.json()["id"]
        return testimonial_id


async def _status(ctx: AppContext, testimonial_id: int) -> tuple[str, str]:
    async with ctx.sessionmaker() as session:
        row = (
            await session.exec(
                select(StoredTestimonial).where(StoredTestimonial.id == testimonial_id)
            )
        ).one()
    return row.status, row.hidden_reason


async def _actions(ctx: AppContext) -> list[str]:
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id)))).all()
    return list(rows)


async def _colleague_sees(client: AsyncTestClient[Litestar], course_id: int, text: str) -> bool:
    return text in (await client.get(f"/catalogue/{course_id}?lang=en")).text


async def test_the_queue_shows_pending_first_with_tabs_and_search(
    app: Litestar, world: World
) -> None:
    course = world.a.course_id
    first = await _write(app, world.email("a", "employee"), course, "Heel praktisch, aanrader.")
    await _write(app, world.email("a", "manager"), course, "Trainer was slecht voorbereid.")
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        await lou.post(f"/api/v1/testimonials/{first}/approve", follow_redirects=False)
        page = await lou.get(f"{PAGE}?lang=en")
        assert page.status_code == 200
        html = page.text
        assert html.index("Trainer was slecht") < html.index("Heel praktisch"), "pending first"
        assert "Feedback geven (Acme)" in html and "Mia Acme" in html
        assert "Approved by Lou Acme" in html
        assert 'aria-current="page">All <span class="tab-count">2</span>' in html
        assert 'Pending <span class="tab-count">1</span>' in html

        pending = (await lou.get(f"{PAGE}?lang=en&status=pending")).text
        assert "Trainer was slecht" in pending and "Heel praktisch" not in pending
        found = (await lou.get(f"{PAGE}?lang=en&q=aanrader")).text
        assert "Heel praktisch" in found and "Trainer was slecht" not in found
        nothing = (await lou.get(f"{PAGE}?lang=en&q=zzz")).text
        assert "No testimonials match “zzz”" in nothing
        hidden = (await lou.get(f"{PAGE}?lang=en&status=hidden")).text
        assert "No testimonials with this status" in hidden
        dutch = (await lou.get(f"{PAGE}?lang=nl&status=pending")).text
        assert "Goedkeuren" in dutch and "Te beoordelen" in dutch


async def test_approve_hide_and_restore_through_the_forms(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    course = world.a.course_id
    text = "Saai en veel te lang."
    testimonial_id = await _write(app, world.email("a", "employee"), course, text)
    async with (
        signed_in_client(app, world.email("a", "ld_admin")) as lou,
        signed_in_client(app, world.email("a", "manager")) as mia,
    ):
        base = f"{PAGE}/{testimonial_id}"
        # hiding needs a reason: the form comes back with the error, nothing changes
        refused = await lou.post(
            f"{base}/hide?lang=en&status=pending", data={"reason": " "}, follow_redirects=False
        )
        assert refused.status_code == 400
        assert "Say why you hide it" in refused.text and 'aria-invalid="true"' in refused.text
        assert f'id="reason-{testimonial_id}"' in refused.text
        assert await _status(ctx, testimonial_id) == ("pending", "")
        too_long = await lou.post(
            f"{base}/hide?lang=en", data={"reason": "x" * 501}, follow_redirects=False
        )
        assert too_long.status_code == 400 and "x" * 501 in too_long.text, "the value is kept"

        hidden = await lou.post(
            f"{base}/hide?lang=en&status=pending&q=saai",
            data={"reason": "Rude about the trainer"},
            follow_redirects=False,
        )
        assert hidden.status_code == 303
        assert hidden.headers["location"] == f"{PAGE}?q=saai&status=pending", "back to that view"
        assert await _status(ctx, testimonial_id) == ("hidden", "Rude about the trainer")
        assert not await _colleague_sees(mia, course, text)
        shown = (await lou.get(f"{PAGE}?lang=en&status=hidden")).text
        assert "Hidden: it no longer shows on “Feedback geven (Acme)”." in shown
        assert "Rude about the trainer" in shown and "only L&D sees this" in shown

        restored = await lou.post(f"{base}/restore", follow_redirects=False)
        assert restored.status_code == 303
        assert await _status(ctx, testimonial_id) == ("pending", "")
        assert await _colleague_sees(mia, course, text)
        again = await lou.post(f"{base}/restore?lang=en", follow_redirects=False)
        assert "This testimonial is not hidden." in (await lou.get(again.headers["location"])).text

        approved = await lou.post(f"{base}/approve", follow_redirects=False)
        assert approved.status_code == 303
        assert await _status(ctx, testimonial_id) == ("approved", "")

    assert await _actions(ctx) == ["testimonial.hide", "testimonial.restore", "testimonial.approve"]


async def test_the_setting_decides_whether_pending_testimonials_show(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    course = world.a.course_id
    text = "Eerlijk gezegd: top."
    await _write(app, world.email("a", "employee"), course, text)
    async with (
        signed_in_client(app, world.email("a", "ld_admin")) as lou,
        signed_in_client(app, world.email("a", "manager")) as mia,
    ):
        assert await _colleague_sees(mia, course, text)
        page = (await lou.get(f"{PAGE}?lang=en")).text
        assert 'name="need_approval" value="0" checked' in page

        saved = await lou.post(
            f"{PAGE}/settings?lang=en", data={"need_approval": "1"}, follow_redirects=False
        )
        assert saved.status_code == 303
        assert not await _colleague_sees(mia, course, text)
        page = (await lou.get(f"{PAGE}?lang=en")).text
        assert "Saved: testimonials show only after approval." in page
        assert 'name="need_approval" value="1" checked' in page
        assert "1 testimonial waits for your approval." in page

        refused = await lou.post(
            f"{PAGE}/settings?lang=en", data={"need_approval": "maybe"}, follow_redirects=False
        )
        assert refused.status_code == 400 and "Choose one of the options." in refused.text
        assert not await _colleague_sees(mia, course, text), "unchanged"

        await lou.post(f"{PAGE}/settings", data={"need_approval": "0"}, follow_redirects=False)
        assert await _colleague_sees(mia, course, text)
    assert await _actions(ctx) == ["testimonial.settings", "testimonial.settings"]


async def test_another_organisations_testimonial_is_not_found(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    b_id = await _write(app, world.email("b", "manager"), world.b.course_id, "Alleen bij Globex.")
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        assert "Alleen bij Globex" not in (await lou.get(PAGE)).text
        for action, data in (
            ("approve", {}),
            ("hide", {"reason": "Not ours"}),
            ("hide", {"reason": ""}),
            ("restore", {}),
        ):
            response = await lou.post(f"{PAGE}/{b_id}/{action}", data=data, follow_redirects=False)
            assert response.status_code == 404, (action, data)
    assert await _status(ctx, b_id) == ("pending", "")
    assert await _actions(ctx) == []
