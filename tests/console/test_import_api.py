"""The JSON API of imports: a CSV body or a multipart file, then the job to follow."""

from typing import Any

from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import World, signed_in_client

GOOD = (
    "external_id,title,format,duration_minutes\r\n"
    "API-1,Onderhandelen,workshop,180\r\n"
    "API-2,Scrum in een dag,classroom,420\r\n"
)


def items(response: Response) -> list[dict[str, Any]]:
    body = response.json()
    return list(body["items"] if isinstance(body, dict) else body)


async def test_a_csv_body_is_imported_and_its_job_followed(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as client:
        sent = await client.post(
            "/api/v1/imports/courses?filename=lms.csv",
            content=GOOD.encode(),
            headers={"content-type": "text/csv"},
        )
        assert sent.status_code == 202, sent.text
        job = sent.json()
        assert (job["kind"], job["filename"], job["total_rows"]) == ("courses", "lms.csv", 2)
        assert sent.headers["location"] == f"/api/v1/imports/{job['id']}"
        followed = await client.get(sent.headers["location"])
        assert followed.status_code == 200
        assert followed.json()["status"] == "done"
        assert (followed.json()["created"], followed.json()["processed_rows"]) == (2, 2)
        courses = items(await client.get("/api/v1/courses?q=Onderhandelen"))
        assert [c["external_id"] for c in courses] == ["API-1"]


async def test_a_multipart_file_with_a_bad_row_answers_400_with_every_problem(
    app: Litestar, world: World
) -> None:
    bad = GOOD + "API-3,,workshop,zestig\r\n"
    async with signed_in_client(app, world.email("a", "ld_admin")) as client:
        sent = await client.post(
            "/api/v1/imports/courses", files={"file": ("lms.csv", bad.encode(), "text/csv")}
        )
        assert sent.status_code == 400
        body = sent.json()
        assert body["status"] == "rejected"
        assert [(e["row"], e["column"]) for e in body["errors"]] == [
            (4, "title"),
            (4, "duration_minutes"),
        ]
        assert body["errors"][1]["message"] == "Enter a whole number."
        assert items(await client.get("/api/v1/courses?q=Onderhandelen")) == []
        wrong = await client.post("/api/v1/imports/people", data={"file": "not a file"})
        assert wrong.status_code == 400


async def test_people_are_imported_through_the_api(app: Litestar, world: World) -> None:
    people = "email,name,teams\r\nnoor@acme.example,Noor Bakker,Finance\r\n"
    async with signed_in_client(app, world.email("a", "ld_admin")) as client:
        sent = await client.post(
            "/api/v1/imports/people", content=people, headers={"content-type": "text/csv"}
        )
        assert sent.status_code == 202
        teams = await client.get("/api/v1/teams")
        assert "Finance" in {t["name"] for t in teams.json()}


async def test_only_ld_admins_import(app: Litestar, world: World) -> None:
    for role in ("employee", "manager"):
        async with signed_in_client(app, world.email("a", role)) as client:
            sent = await client.post(
                "/api/v1/imports/courses", content=GOOD, headers={"content-type": "text/csv"}
            )
            assert sent.status_code == 403
    async with AsyncTestClient(app=app) as key:
        sent = await key.post(
            "/api/v1/imports/courses",
            content=GOOD,
            headers={"content-type": "text/csv", "Authorization": f"Bearer {world.a.api_key}"},
        )
        assert sent.status_code == 403


async def test_the_openapi_document_describes_the_upload(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as client:
        schema = (await client.get("/schema/openapi.json")).json()
    upload = schema["paths"]["/api/v1/imports/courses"]["post"]
    assert set(upload["requestBody"]["content"]) == {
        "text/csv",
        "multipart/form-data",
        "application/json",
    }
    assert "L&D admin" in upload["summary"]
    assert "get" in schema["paths"]["/api/v1/imports/{import_id}"]
