"""Insights in the console, the CSV downloads, the insights API, the privacy setting and the
leadership summary: who sees which group, what the filters do, and the privacy floor."""

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry, Team, TeamMembership, User
from backend.insights import board
from backend.insights.leadership import MEASURES
from gamification import local_day
from tests.factories import World, signed_in_client

CROWD = 5  # added to Acme's support team: with Sam, 6 counted members (the floor is 5)


def today() -> date:
    return local_day(datetime.now(UTC), "Europe/Amsterdam")


async def crowd(
    ctx: AppContext, world: World, n: int = CROWD, team_id: int | None = None
) -> list[str]:
    """``n`` more employees of Acme in its support team (or ``team_id``); their addresses."""
    emails = [f"p{i}-{uuid.uuid4().hex[:6]}@acme.example" for i in range(n)]
    async with ctx.sessionmaker() as session:
        for email in emails:
            user = User(
                organisation_id=world.a.id, email=email, display_name=email[:8], roles=["employee"]
            )
            session.add(user)
            await session.flush()
            assert user.id is not None
            session.add(
                TeamMembership(
                    team_id=team_id or world.a.team_id, user_id=user.id, organisation_id=world.a.id
                )
            )
        await session.commit()
    return emails


async def learn(
    client: AsyncTestClient[Litestar], world: World, items: list[tuple[str, str, int]]
) -> None:
    """Learning events through the events API: (email, kind, days ago), 20 minutes each."""
    events = [
        {
            "id": f"e-{uuid.uuid4()}",
            "learner": {"email": email},
            "kind": kind,
            "minutes": 20,
            "occurred_at": (datetime.now(UTC) - timedelta(days=days, hours=1)).isoformat(),
            **({"course": {"id": world.a.course_id}} if kind == "completion" else {}),
        }
        for email, kind, days in items
    ]
    response = await client.post(
        "/api/v1/events", json=events, headers={"Authorization": f"Bearer {world.a.api_key}"}
    )
    assert response.status_code == 200, response.text


async def busy_team(ctx: AppContext, world: World, client: AsyncTestClient[Litestar]) -> list[str]:
    """Acme's support team at the floor's size plus one, everyone learning this week."""
    emails = await crowd(ctx, world)
    people = ["sam@example.com", *emails]
    await learn(
        client,
        world,
        [(e, "informal", 0) for e in people]
        + [(e, "completion", 8) for e in people]
        + [(e, "informal", 15) for e in people[:2]],
    )
    return emails


class Tables(HTMLParser):
    """The rows of every table on a page, by the id of the chart card around it."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.card = ""
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section" and (found.get("id") or "").startswith("insight-"):
            self.card = (found["id"] or "").removeprefix("insight-")
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self.in_body = False
        elif tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables.setdefault(self.card, []).append(self.row)
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def tables_of(page: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


async def test_ld_admin_sees_every_chart_for_the_organisation_and_for_a_team(
    app: Litestar, world: World, ctx: AppContext, client: AsyncTestClient[Litestar]
) -> None:
    await busy_team(ctx, world, client)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        page = await lou.get("/console/insights?lang=en")
        assert page.status_code == 200, page.text
        text = page.text
        for insight in board.INSIGHTS:
            assert f'id="insight-{insight.key}"' in text
            assert f"/console/insights/{insight.key}.csv?period=12w" in text
        assert text.count('role="img"') >= 2 * 6  # a laptop and a phone drawing per chart
        assert "<strong>Acme</strong> · 8 people" in text  # the organisation: everyone active
        assert "Figures about fewer than 5 people are never shown." in text
        assert 'href="/console/insights/privacy"' in text
        assert "style=" not in text and "<script>" not in text  # the strict CSP holds

        team = await lou.get(f"/console/insights?team={world.a.team_id}&lang=nl")
        assert team.status_code == 200
        assert "<strong>Acme Support</strong> · 6 mensen" in team.text
        assert f'<option value="{world.a.team_id}" selected>' in team.text
        tables = tables_of(team.text)
        weekly = tables["weekly_active"]
        assert len(weekly) == 12 and weekly[-1][1] == "6"  # everyone learned this week
        assert weekly[-1][2] == "100%"
        assert tables["horizontal_vertical"][0][0] == "Buiten de eigen functiefamilie"
        # the budget: the team's own row; for the organisation, its row and each team's
        assert [row[0] for row in tables["budget"]] == ["Acme Support"]
        assert [row[0] for row in tables_of(text)["budget"]] == ["Acme", "Acme Support"]
        assert tables_of(text)["budget"][0][1:4] == [
            "0%",
            "0%",
            "€ 8,000",
        ]  # 8 people, € 1,000 each


async def test_csv_has_the_rows_of_the_table_with_a_bom_and_a_file_name(
    app: Litestar, world: World, ctx: AppContext, client: AsyncTestClient[Litestar]
) -> None:
    await busy_team(ctx, world, client)
    query = f"team={world.a.team_id}&period=4w"
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        page = await lou.get(f"/console/insights?{query}&lang=en")
        table = tables_of(page.text)["weekly_active"]
        download = await lou.get(f"/console/insights/weekly_active.csv?{query}")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    disposition = download.headers["content-disposition"]
    monday = today() - timedelta(days=today().weekday())
    first = monday - timedelta(weeks=3)
    assert disposition == (
        f'attachment; filename="weekly_active-acme-support-{first}-{today()}.csv"'
    )
    assert download.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["week", "active", "share"]
    assert len(rows[1:]) == len(table) == 4
    for written, shown in zip(rows[1:], table, strict=True):
        week = date.fromisoformat(written[0])
        assert shown[0] == f"{week.day} {week.strftime('%b')} {week.year}"
        assert written[1] == shown[1]
        assert f"{round(float(written[2]) * 100)}%" == shown[2]
    assert rows[-1][1:] == ["6", "1"]


async def test_a_manager_sees_only_the_teams_they_manage(
    app: Litestar, world: World, ctx: AppContext, client: AsyncTestClient[Litestar]
) -> None:
    await busy_team(ctx, world, client)
    async with ctx.sessionmaker() as session:
        other = Team(organisation_id=world.a.id, name="Acme Sales")
        session.add(other)
        await session.commit()
        assert other.id is not None
        other_id = other.id
    await crowd(ctx, world, team_id=other_id)
    async with signed_in_client(app, world.email("a", "manager")) as mia:
        mine = await mia.get("/console/insights?lang=en")  # no team: the one she manages
        assert mine.status_code == 200, mine.text
        assert "<strong>Acme Support</strong>" in mine.text
        assert "Acme Sales" not in mine.text and "Whole organisation" not in mine.text
        assert 'href="/console/insights/privacy"' not in mine.text  # L&D's setting
        for url in (
            f"/console/insights?team={other_id}",
            f"/console/insights/weekly_active.csv?team={other_id}",
            f"/console/insights/summary?team={other_id}",
            f"/api/v1/insights/weekly_active?team={other_id}",
            "/api/v1/insights/weekly_active",  # the whole organisation is L&D's
            "/console/insights/privacy",
        ):
            response = await mia.get(url, headers={"accept": "text/html"})
            assert response.status_code == 403, (url, response.status_code)
            assert "Acme Sales" not in response.text
        foreign = await mia.get(f"/api/v1/insights/weekly_active?team={world.b.team_id}")
        assert foreign.status_code == 404
        api = await mia.get(f"/api/v1/insights/weekly_active?team={world.a.team_id}&period=4w")
        assert api.status_code == 200
        body = api.json()
        assert body["group"] == {
            "team_id": world.a.team_id,
            "label": "Acme Support",
            "min_group_size": 5,
        }
        assert [c["key"] for c in body["columns"]] == ["week", "active", "share"]
        assert body["rows"][-1][1:] == [6, 1.0]
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        for url in (
            f"/console/insights?team={world.a.team_id}",
            f"/console/insights/summary?team={world.a.team_id}",
            f"/console/insights/streaks.csv?team={world.a.team_id}",
            f"/api/v1/insights/streaks?team={world.a.team_id}",
        ):
            response = await sam.get(url)
            assert response.status_code == 403, url
            assert "Acme Support" not in response.text


async def test_a_group_below_the_floor_shows_no_figure_anywhere(
    app: Litestar, world: World, client: AsyncTestClient[Litestar]
) -> None:
    await learn(client, world, [("sam@example.com", "informal", 0)])
    team = world.a.team_id
    async with signed_in_client(app, world.email("a", "manager")) as mia:
        page = await mia.get(f"/console/insights?team={team}")
        assert page.status_code == 403
        assert "data-privacy-floor" in page.text and 'class="chart ' not in page.text
        summary = await mia.get(f"/console/insights/summary?team={team}")
        assert summary.status_code == 403 and "data-privacy-floor" in summary.text
        download = await mia.get(f"/console/insights/minutes_over_time.csv?team={team}")
        assert download.status_code == 403 and "data-privacy-floor" in download.text
        assert "minutes_formal" not in download.text
        api = await mia.get(f"/api/v1/insights/minutes_over_time?team={team}")
        assert api.status_code == 403
        assert "fewer than 5" in api.json()["detail"]


async def test_the_period_and_team_are_read_from_the_url_and_bad_ones_are_400(
    app: Litestar, world: World, ctx: AppContext, client: AsyncTestClient[Litestar]
) -> None:
    await busy_team(ctx, world, client)
    team = world.a.team_id
    start, end = today() - timedelta(days=20), today() - timedelta(days=6)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        custom = await lou.get(f"/console/insights?team={team}&from={start}&to={end}&lang=en")
        assert custom.status_code == 200
        assert '<option value="custom" selected>' in custom.text
        assert f'value="{start}"' in custom.text and f'value="{end}"' in custom.text
        assert f"weekly_active.csv?team={team}&amp;from={start}&amp;to={end}" in custom.text
        weeks = tables_of(custom.text)["weekly_active"]
        assert len(weeks) == len(
            {start - timedelta(days=start.weekday()), end - timedelta(days=end.weekday())}
            | {
                start + timedelta(days=d) - timedelta(days=(start + timedelta(days=d)).weekday())
                for d in range((end - start).days + 1)
            }
        )
        year = await lou.get(f"/console/insights?team={team}&period=52w")
        assert year.status_code == 200 and '<option value="52w" selected>' in year.text
        for query, message in (
            ("period=3d", "Choose a period of 4w, 12w, 26w or 52w"),
            ("from=2026-13-01", "is not a date for from"),
            (f"from={end}&to={start}", "The period must start before it ends."),
            ("to=2026-01-01", "Give the first day of the period (from) too."),
            (f"from={today() + timedelta(days=3)}", "The period cannot start in the future."),
            ("from=2020-01-01&to=2026-01-01", "A period spans at most two years."),
        ):
            page = await lou.get(f"/console/insights?team={team}&{query}&lang=en")
            assert page.status_code == 400, query
            assert message in page.text.replace("&#34;", '"'), query
            assert 'class="chart ' not in page.text
            api = await lou.get(f"/api/v1/insights/streaks?team={team}&{query}")
            assert api.status_code == 400 and message in api.json()["detail"], query
            download = await lou.get(f"/console/insights/streaks.csv?team={team}&{query}")
            assert download.status_code == 400, query
        nl = await lou.get(f"/console/insights?team={team}&period=3d&lang=nl")
        assert nl.status_code == 400 and "Kies een periode" in nl.text
        assert (await lou.get("/console/insights?team=abc")).status_code == 400
        # the filter form sends an empty team for the whole organisation
        everyone = await lou.get("/console/insights?team=&period=custom&from=2026-10-01")
        assert everyone.status_code == 200 and "<strong>Acme</strong>" in everyone.text
        assert (await lou.get("/console/insights/summary?team=&month=")).status_code == 200
        assert (await lou.get("/console/insights/streaks.csv?team=")).status_code == 200
        assert (await lou.get("/console/insights?team=999999")).status_code == 404
        for month, message in (
            ("2026-13", "Give the month as YYYY-MM"),
            ("march", "Give the month as YYYY-MM"),
            (f"{today().year + 1}-01", "That month has not started yet."),
        ):
            summary = await lou.get(f"/console/insights/summary?team={team}&month={month}&lang=en")
            assert summary.status_code == 400 and message in summary.text, month


async def test_the_leadership_summary_has_five_numbers_with_their_trend(
    app: Litestar, world: World, ctx: AppContext, client: AsyncTestClient[Litestar]
) -> None:
    await busy_team(ctx, world, client)
    month = today().strftime("%Y-%m")
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        page = await lou.get(
            f"/console/insights/summary?team={world.a.team_id}&month={month}&lang=en"
        )
        assert page.status_code == 200, page.text
        text = page.text
        labels = [
            "Learners active in the month",
            "Minutes learned per active learner",
            "Courses completed",
            "Learning on the job",
            "Learning budget spent or committed",
        ]
        assert len(MEASURES) == 5
        for label in labels:
            assert label in text
        assert text.count('class="sparkline"') == 5
        assert "so far" in text and "Acme Support · 6 people" in text
        assert "data-print hidden" in text and "/static/js/console-insights.js" in text
        assert "style=" not in text
        # without a month: the last month that has ended, for the whole organisation
        default = await lou.get("/console/insights/summary?lang=en")
        assert default.status_code == 200
        last = (today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        assert f'value="{last}"' in default.text and "Acme · 8 people" in default.text


async def test_ld_raises_the_privacy_floor_and_it_is_in_the_audit_log(
    app: Litestar, world: World, ctx: AppContext, client: AsyncTestClient[Litestar]
) -> None:
    await busy_team(ctx, world, client)
    team = world.a.team_id
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        form = await lou.get("/console/insights/privacy?lang=en")
        assert form.status_code == 200 and 'value="5"' in form.text
        token = lou.cookies.get("learnloop_csrf")
        for wrong in ("2", "abc", "101", ""):
            refused = await lou.post(
                "/console/insights/privacy",
                data={"min_group_size": wrong, "_csrf_token": token},
            )
            assert refused.status_code == 400, wrong
            assert "Vul een heel getal in van 3 tot en met 100." in refused.text  # Lou reads Dutch
        saved = await lou.post(
            "/console/insights/privacy",
            data={"min_group_size": "7", "_csrf_token": token},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        after = await lou.get("/console/insights/privacy?lang=en")
        assert (
            "minstens 7 mensen" in after.text
            and "Now: 7 people" in after.text
            and 'value="7"' in after.text
        )
        # the support team (6 counted members) now shows nothing; the organisation (8) still does
        assert (await lou.get(f"/console/insights?team={team}")).status_code == 403
        assert (await lou.get("/console/insights")).status_code == 200
    async with ctx.sessionmaker() as session:
        entries = (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.organisation_id == world.a.id)
                .order_by(col(AuditEntry.id))
            )
        ).all()
    assert [(e.action, e.details) for e in entries][-1] == (
        "organisation.update",
        {"before": {"min_group_size": 5}, "after": {"min_group_size": 7}},
    )


async def test_the_api_lists_every_insight_in_its_schema(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as anyone:
        schema = (await anyone.get("/schema/openapi.json")).json()
    for insight in board.INSIGHTS:
        operation = schema["paths"][f"/api/v1/insights/{insight.key}"]["get"]
        assert operation["tags"] == ["insights"]
        assert {p["name"] for p in operation["parameters"]} >= {"team", "period", "from", "to"}
    assert re.search(r"weekly_active", str(schema["paths"].keys()))
