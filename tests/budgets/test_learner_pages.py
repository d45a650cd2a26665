"""What a learner sees of their budget: the "My learning budget" page and a course's status."""

from litestar import Litestar

from backend.context import AppContext
from tests.budgets.test_budget_rules import _decide, _request, _settings, _status
from tests.factories import World, signed_in_client


async def test_my_budget_page_separates_committed_and_spent_and_shows_each_decision(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _settings(
        ctx, world.a.id, yearly_budget_cents=200_000, budget_ld_approval_above_cents=50_000
    )
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        empty = await sam.get("/catalogue/budget?lang=en")
        assert empty.status_code == 200
        assert "No requests yet." in empty.text and "€2,000.00 left" in empty.text
    small = await _request(ctx, world, 30_000)
    big = await _request(ctx, world, 60_000)
    no = await _request(ctx, world, 10_000)
    async with signed_in_client(app, world.email("a", "manager")) as mia:
        await _decide(mia, small, approve=True)
        await _decide(mia, big, approve=True)
        await _decide(mia, no, approve=False, note="Liever de interne training")
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        page = (await sam.get("/catalogue/budget?lang=en")).text
        assert "€1,700.00 left" in page  # 2,000 less the approved 300
        assert "Approved, not completed yet" in page and "€300.00" in page
        assert "Waiting for a decision" in page and "€600.00" in page
        assert 'data-request-stage="waiting_for_ld"' in page
        assert "Approved by your manager, waiting for L&amp;D" in page
        assert "“Liever de interne training”" in page
        course = (await sam.get(f"/catalogue/{(await _status(ctx, big)).course_id}?lang=en")).text
        assert "D decides too, as it costs more" in course
        declined = (await sam.get(f"/catalogue/{(await _status(ctx, no)).course_id}?lang=en")).text
        assert "was not approved" in declined and "Liever de interne training" in declined
        assert "Ask again" in declined
        dutch = (await sam.get("/catalogue/budget?lang=nl")).text
        assert "Mijn leerbudget" in dutch and "1.700,00 over" in dutch
