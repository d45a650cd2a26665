import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import func, select

from backend.app import CONTENT_SECURITY_POLICY
from backend.context import AppContext
from backend.db.models import LearningEvent
from tests.factories import World


async def test_health_reports_the_database(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "postgresql"}


async def test_openapi_schema_lists_the_api(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["info"]["title"] == "learnloop API"
    assert "/api/v1/courses" in schema["paths"]
    assert "/" not in schema["paths"]
    page = await client.get("/schema")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # the console's moderation and audit actions are documented too
    summaries = {op.get("summary") for path in schema["paths"].values() for op in path.values()}
    assert "Approve a testimonial: colleagues see it (L&D admin)" in summaries
    assert "The audit log as CSV (UTF-8 with BOM, same filters) (L&D admin)" in summaries


async def test_the_api_docs_page_loads_only_the_apps_own_files(
    client: AsyncTestClient[Litestar],
) -> None:
    """The strict CSP stays: the page has no inline script or style and no other host."""
    page = await client.get("/schema")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    html = page.text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all(
        body.strip() == "" and 'src="/static/' in attrs for attrs, body in scripts
    )
    assert "<style" not in html and "style=" not in html and " on" not in html.replace("\n", " ")
    assert "http://" not in html and "https://" not in html
    assert 'data-openapi-url="/schema/openapi.json"' in html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert len(assets) == 5
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 0


async def test_responses_carry_security_headers(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_value_the_database_cannot_hold_is_a_400_not_a_500(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    """Validation names the field and the largest value it takes; nothing is stored."""
    event = {
        "id": "too-big",
        "learner": {"email": "sam@example.com"},
        "kind": "informal",
        "occurred_at": "2026-12-01T10:00:00Z",
        "minutes": 5,
        "competency_id": 2**40,
    }
    headers = {"Authorization": f"Bearer {world.a.api_key}"}
    response = await client.post("/api/v1/events", json=event, headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "EventIn.competency_id: Input should be less than or equal to 2147483647"
    )
    async with ctx.sessionmaker() as session:
        stored = (await session.exec(select(func.count()).select_from(LearningEvent))).one()
    assert stored == 0
