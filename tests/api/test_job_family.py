"""Job families of people and courses: set through the API, the console forms and CSV
imports alike (insights split learning into vertical and horizontal by them)."""

from litestar import Litestar
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import Course, User
from tests.factories import World, signed_in_client
from tests.imports.test_import_services import import_text

LD = "ld@acme.example"


async def test_people_get_clear_and_keep_a_job_family_through_the_api(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, LD) as client:
        created = await client.post(
            "/api/v1/users",
            json={
                "email": "fenna@acme.example",
                "display_name": "Fenna",
                "job_family": " Finance ",
            },
        )
        assert created.status_code == 201, created.text
        person = created.json()
        assert person["job_family"] == "Finance"
        renamed = await client.patch(f"/api/v1/users/{person['id']}", json={"display_name": "F."})
        assert renamed.json()["job_family"] == "Finance"  # untouched when not given
        cleared = await client.patch(f"/api/v1/users/{person['id']}", json={"job_family": ""})
        assert cleared.json()["job_family"] is None
        too_long = await client.patch(
            f"/api/v1/users/{person['id']}", json={"job_family": "x" * 81}
        )
        assert too_long.status_code == 400 and "job_family" in too_long.text


async def test_a_course_names_the_job_family_it_is_made_for(app: Litestar, world: World) -> None:
    async with signed_in_client(app, LD) as client:
        created = await client.post(
            "/api/v1/courses",
            json={
                "title": "Jaarafsluiting",
                "format": "elearning",
                "duration_minutes": 30,
                "job_family": "Finance",
            },
        )
        assert created.status_code == 201, created.text
        course = created.json()
        assert course["job_family"] == "Finance"
        cleared = await client.patch(f"/api/v1/courses/{course['id']}", json={"job_family": None})
        assert cleared.json()["job_family"] is None


async def test_the_console_forms_save_a_job_family_and_offer_the_ones_in_use(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    async with signed_in_client(app, LD) as client:
        token = client.headers["x-csrf-token"]
        saved = await client.post(
            f"/console/people/{sam.id}",
            data={
                "_csrf_token": token,
                "display_name": sam.display_name,
                "locale": "nl",
                "job_family": "Klantenservice",
            },
        )
        assert saved.status_code == 200, saved.text
        assert 'value="Klantenservice"' in saved.text  # back on the person's page
        page = await client.get(f"/console/courses/{world.a.course_id}")
        assert '<option value="Klantenservice">' in page.text
    async with ctx.sessionmaker() as session:
        user = await session.get(User, sam.id)
        assert user is not None and user.job_family == "Klantenservice"


async def test_csv_imports_take_a_job_family_column(ctx: AppContext, world: World) -> None:
    people = await import_text(
        ctx,
        world,
        "email,name,job_family\r\nnoor@acme.example,Noor,Sales\r\n",
        kind="people",
    )
    courses = await import_text(
        ctx,
        world,
        "external_id,title,format,duration_minutes,job_family\r\nF-1,Btw,elearning,20,Finance\r\n",
    )
    assert (people.status, courses.status) == ("done", "done")
    async with ctx.sessionmaker() as session:
        noor = (await session.exec(select(User).where(User.email == "noor@acme.example"))).one()
        course = (await session.exec(select(Course).where(Course.external_id == "F-1"))).one()
    assert (noor.job_family, course.job_family) == ("Sales", "Finance")
