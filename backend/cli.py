"""The ``learnloop`` command line."""

import asyncio
import getpass
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from sqlmodel import select

from backend.settings import ConfigurationError, Settings, get_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return get_settings()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


def _context(settings: Settings, *, null_pool: bool = False) -> Any:
    from backend.context import AppContext

    try:
        return AppContext.from_settings(settings, null_pool=null_pool)
    except ConfigurationError as exc:  # e.g. the embedded server did not start
        raise click.ClickException(str(exc)) from exc


def _run(factory: Callable[["Any"], Awaitable[T]], *, migrate: bool | None = None) -> T:
    """Run ``factory`` with an app context, migrations first when ``migrate`` says so; by
    default on the embedded server, whose schema is the app's own (a no-op when up to date),
    so every command works on a new machine."""
    from backend.db.migrate import upgrade

    async def main() -> T:
        ctx = _context(_settings(), null_pool=True)
        try:
            if migrate or (migrate is None and ctx.settings.embedded_database):
                await upgrade(ctx.engine)
            return await factory(ctx)
        finally:
            await ctx.engine.dispose()

    return asyncio.run(main())


@click.group()
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Log libraries' INFO lines too (migrations, uvicorn); LEARNLOOP_LOG_LEVEL sets a level.",
)
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """learnloop: turn learning at work into a habit."""
    from backend.log_config import configure_logging

    configure_logging(verbose)
    ctx.obj = {"verbose": verbose}


@main.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from backend.db.migrate import upgrade

    _run(lambda ctx: upgrade(ctx.engine), migrate=False)
    click.echo("database is up to date")


def _print_logins(result: Any) -> None:
    click.echo(f"\nDemo organisation: {result.organisation_name}")
    for login in result.logins:
        click.echo(f"  {login.role:<10} {login.email:<40} password: {login.password}")
    click.echo("")


@main.command()
@click.option("--reset", is_flag=True, help="Delete the demo organisation first and seed it anew.")
def demo(reset: bool) -> None:
    """Seed the Dutch demo organisation and print three logins."""
    from backend.demo.seed import seed_demo

    async def go(ctx: Any) -> Any:
        return await seed_demo(ctx, reset=reset)

    _print_logins(_run(go))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes."
)
@click.option(
    "--demo", "with_demo", is_flag=True, help="Seed the demo organisation first (when missing)."
)
@click.option(
    "--migrate/--no-migrate",
    "run_migrations",
    default=None,
    help="Migrate first (default: on the embedded server).",
)
@click.option("--verbose", "-v", is_flag=True, help="Log libraries' INFO lines too.")
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    workers: int,
    with_demo: bool,
    run_migrations: bool | None,
    verbose: bool,
) -> None:
    """Run the web app (uvicorn with uvloop and httptools)."""
    import uvicorn

    from backend.log_config import configure_logging, log_config

    verbose = verbose or (ctx.obj or {}).get("verbose", False)
    if verbose:  # `learnloop serve --verbose` as well as `learnloop --verbose serve`
        configure_logging(verbose)
    from backend.settings import base_url_problem, served_base_url

    # links in credentials and e-mails point at the address being served, unless told otherwise
    # (the server processes read the same environment)
    os.environ.setdefault("LEARNLOOP_BASE_URL", served_base_url(host, port))
    get_settings.cache_clear()
    settings = _settings()
    problem = base_url_problem(settings.base_url, host, port)
    if problem:
        logging.getLogger("learnloop").warning(problem)
    if run_migrations is None:
        run_migrations = settings.embedded_database
    if run_migrations or with_demo:
        from backend.demo.seed import seed_demo

        async def prepare(ctx: Any) -> Any:
            return await seed_demo(ctx) if with_demo else None

        result = _run(prepare, migrate=run_migrations)
        if result is not None:
            _print_logins(result)
    click.echo(f"learnloop is running at {served_base_url(host, port)}/  (Ctrl+C stops it)")
    # uvicorn re-raises the SIGTERM it shut down on; as SystemExit the exit handlers still run
    # (the embedded database server stops with its last user)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "backend.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        log_config=log_config(verbose),
        log_level=None,  # the levels are log_config's
        access_log=False,
    )


@main.command("create-org")
@click.argument("name")
@click.option("--slug", help="Short unique name (default: from NAME).")
@click.option("--timezone", "tz", default="Europe/Amsterdam", show_default=True)
@click.option("--locale", type=click.Choice(["nl", "en"]), default="nl", show_default=True)
def create_org(name: str, slug: str | None, tz: str, locale: str) -> None:
    """Create an organisation."""
    from zoneinfo import available_timezones

    from litestar.exceptions import ClientException

    from backend.organisations.services import create_organisation, slug_for

    if tz not in available_timezones():
        raise click.BadParameter(f"unknown timezone {tz!r}", param_hint="--timezone")
    slug = slug or slug_for(name)

    async def go(ctx: Any) -> int:
        async with ctx.sessionmaker() as session:
            try:
                org = await create_organisation(
                    session, name=name, slug=slug, timezone=tz, locale=locale
                )
            except ClientException as exc:
                raise click.ClickException(exc.detail) from exc
            return int(org.id or 0)

    org_id = _run(go)
    click.echo(f"created organisation {name!r} (slug {slug}, id {org_id})")


async def _org_by_slug(session: Any, slug: str) -> Any:
    from backend.db.models import Organisation

    org = (await session.exec(select(Organisation).where(Organisation.slug == slug))).first()
    if org is None:
        raise click.ClickException(f"no organisation with slug {slug!r} (see create-org)")
    return org


@main.command("create-user")
@click.option("--org", "org_slug", required=True, help="Organisation slug.")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True)
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(["employee", "manager", "ld_admin"]),
    default=["employee"],
    show_default=True,
)
@click.option("--password", envvar="LEARNLOOP_NEW_PASSWORD", help="Default: asked interactively.")
@click.option("--start-date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
def create_user(
    org_slug: str,
    email: str,
    display_name: str,
    roles: tuple[str, ...],
    password: str | None,
    start_date: Any,
) -> None:
    """Create a person who can sign in."""
    from litestar.exceptions import ClientException
    from pydantic import ValidationError

    from backend.accounts.schemas import UserCreate
    from backend.accounts.services import create_user as create_account
    from backend.auth.passwords import password_problem
    from backend.auth.principal import Principal
    from backend.tenancy import OrgScope

    if password is None:
        password = getpass.getpass("Password: ")
    problem = password_problem(password)
    if problem:
        raise click.BadParameter(problem, param_hint="--password")
    try:
        data = UserCreate(
            email=email,
            display_name=display_name,
            password=password,
            roles=sorted({"employee", *roles}),
            start_date=start_date.date() if start_date else None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise click.BadParameter(first["msg"], param_hint=f"--{first['loc'][0]}") from exc

    async def go(ctx: Any) -> int:
        async with ctx.sessionmaker() as session:
            org = await _org_by_slug(session, org_slug)
            operator = Principal(organisation_id=org.id, user_id=None, roles=frozenset(), via="cli")
            try:
                created = await create_account(
                    OrgScope(session, operator), data, ctx.settings.password_cost
                )
            except ClientException as exc:
                raise click.ClickException(f"{exc.detail} in {org_slug}") from exc
            return created.id

    user_id = _run(go)
    click.echo(
        f"created user {email} (id {user_id}) with roles {', '.join(sorted({'employee', *roles}))}"
    )


@main.group("api-key")
def api_key() -> None:
    """Integration keys."""


@api_key.command("create")
@click.option("--org", "org_slug", required=True, help="Organisation slug.")
@click.option("--name", required=True, help="What the key is for, e.g. 'Moodle LMS'.")
def api_key_create(org_slug: str, name: str) -> None:
    """Create a key and print it once (recorded in the organisation's audit log)."""
    from backend.auth.principal import Principal
    from backend.integrations.services import create_api_key
    from backend.tenancy import OrgScope

    async def go(ctx: Any) -> Any:
        async with ctx.sessionmaker() as session:
            org = await _org_by_slug(session, org_slug)
            operator = Principal(organisation_id=org.id, user_id=None, roles=frozenset(), via="cli")
            return await create_api_key(
                session, org.id, name, None, audit_scope=OrgScope(session, operator)
            )

    created = _run(go)
    click.echo(f"API key {created.name!r} (id {created.id}); store it now, it is not shown again:")
    click.echo(created.key)


@main.group("import")
def import_group() -> None:
    """Import courses or people from a CSV file (every row checked first)."""


def _import_file(kind: str, path: str, org_slug: str) -> None:
    """Check every row; with any problem print them all and exit 1, else import with a
    progress bar (stderr) and print the summary. The console's upload does the same."""
    from pathlib import Path

    from backend.auth.principal import Principal
    from backend.imports import services
    from backend.tenancy import OrgScope
    from pwa.i18n import set_locale

    set_locale("en")
    file = Path(path)
    data = file.read_bytes()
    kind_spec = services.KINDS[kind]

    async def go(ctx: Any) -> tuple[Any, Any]:
        async with ctx.sessionmaker() as session:
            org = await _org_by_slug(session, org_slug)
            operator = Principal(
                organisation_id=org.id,
                user_id=None,
                roles=frozenset({"ld_admin"}),
                via="cli",
                display_name="command line",
            )
            job, checked = await services.submit(
                OrgScope(session, operator), kind_spec, file.name, data
            )
        if job.status == "rejected":
            return job, checked
        with click.progressbar(
            length=max(len(checked.rows), 1), label=f"importing {kind}", file=sys.stderr
        ) as bar:

            async def progress(done: int) -> None:
                bar.update(done - bar.pos)

            assert job.id is not None
            job = await services.run(ctx.sessionmaker, operator, job.id, checked, progress)
        return job, checked

    job, checked = _run(go)
    if job.status == "rejected":
        click.echo(f"{file.name}: {job.error_count} problem(s); nothing was imported", err=True)
        for problem in checked.problems:
            where = f"row {problem.row}" if problem.row else "file"
            if problem.column:
                where += f", column {problem.column}"
            click.echo(f"  {where}: {services.problem_text(problem)}", err=True)
        sys.exit(1)
    if job.status != "done":
        message = services.problem_text(job.errors[0]) if job.errors else "unknown error"
        raise click.ClickException(message)
    click.echo(
        f"imported {job.total_rows} {kind} from {file.name}: {job.created} created, "
        f"{job.updated} updated, {job.unchanged} unchanged"
    )


FILE = click.Path(exists=True, dir_okay=False, readable=True)


@import_group.command("courses")
@click.argument("file", type=FILE)
@click.option("--org", "org_slug", required=True, help="Organisation slug.")
def import_courses(file: str, org_slug: str) -> None:
    """Create or update courses from FILE (matched by external_id)."""
    _import_file("courses", file, org_slug)


@import_group.command("people")
@click.argument("file", type=FILE)
@click.option("--org", "org_slug", required=True, help="Organisation slug.")
def import_people(file: str, org_slug: str) -> None:
    """Create or update people and their teams from FILE (matched by e-mail)."""
    _import_file("people", file, org_slug)


@main.command()
def doctor() -> None:
    """Check the configuration, the database, the VAPID key, SMTP and the replica."""
    from backend.ops.doctor import diagnose, failed

    checks = asyncio.run(diagnose())
    for check in checks:
        click.echo(check.line())
    if failed(checks):
        click.echo("learnloop doctor: something needs fixing (the FAIL lines say what)", err=True)
        sys.exit(1)


@main.group()
def vapid() -> None:
    """Web Push (VAPID) keys."""


DEFAULT_VAPID_KEY_FILE = "~/.config/learnloop/vapid_private.pem"


@vapid.command("generate")
@click.option(
    "--out",
    "out",
    default=DEFAULT_VAPID_KEY_FILE,
    show_default=True,
    help="Where to write the private key (PEM, mode 0600); keep it outside the repository.",
)
@click.option(
    "--force", is_flag=True, help="Replace an existing key (every device must re-subscribe)."
)
def vapid_generate(out: str, force: bool) -> None:
    """Generate the VAPID key pair: private key to a file, public key printed."""
    from pathlib import Path

    from backend.push.keys import VapidKey, write_new_key

    path = Path(out).expanduser()
    try:
        key = write_new_key(path, force=force)
    except FileExistsError as exc:
        raise click.ClickException(
            f"{path} already exists; pass --force to replace it (existing devices stop "
            "receiving pushes until they subscribe again)"
        ) from exc
    public = VapidKey(key, "", str(path)).public_key_b64
    click.echo(f"wrote the VAPID private key to {path} (mode 0600)")
    click.echo("configure the app and the workers with:")
    click.echo(f"  LEARNLOOP_VAPID_PRIVATE_KEY_FILE={path}")
    click.echo("  LEARNLOOP_VAPID_SUBJECT=mailto:<an address push services can write to>")
    click.echo("public key (browsers get it from /api/v1/push/public-key):")
    click.echo(public)


@main.command()
@click.option(
    "--senders",
    default=None,
    type=click.IntRange(1, 64),
    help="Concurrent sender loops in this process (default: LEARNLOOP_PUSH_SENDERS or 4).",
)
@click.option(
    "--scheduler/--no-scheduler",
    default=True,
    show_default=True,
    help="Also run the nudge scheduler tick every minute.",
)
@click.option(
    "--metrics-port",
    default=0,
    envvar="LEARNLOOP_WORKER_METRICS_PORT",
    type=click.IntRange(0, 65535),
    help="Serve this worker's /metrics on this port (needs LEARNLOOP_METRICS_TOKEN; 0: off).",
)
@click.option("--metrics-host", default="0.0.0.0", show_default=True)
def worker(senders: int | None, scheduler: bool, metrics_port: int, metrics_host: str) -> None:
    """Deliver queued nudges by Web Push (and run the scheduler) until SIGTERM."""
    from backend.push.keys import PushNotConfigured, load_vapid_key
    from backend.push.worker import PushWorker

    settings = _settings()
    try:
        key = load_vapid_key(settings)
    except PushNotConfigured as exc:
        raise click.ClickException(str(exc)) from exc
    if metrics_port and not settings.metrics_token:
        raise click.ClickException("--metrics-port needs LEARNLOOP_METRICS_TOKEN (or _FILE)")

    async def main_loop() -> Any:
        from backend.process_tuning import tune_garbage_collector

        ctx = _context(settings)
        tune_garbage_collector()  # as the app's server processes do: a tick pays no full walks
        push_worker = PushWorker(ctx, senders=senders, run_scheduler=scheduler)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, push_worker.stop.set)
        metrics_server = None
        if metrics_port:
            from backend.ops import metrics_server as served

            metrics_server = await served.start(
                ctx.engine, settings.metrics_token, metrics_host, metrics_port
            )
        try:
            return await push_worker.run()
        finally:
            if metrics_server is not None:
                metrics_server.close()
            await ctx.engine.dispose()

    click.echo(
        f"push worker running ({senders or settings.push_senders} senders, key {key.source}); "
        "SIGTERM or Ctrl+C stops it after the batch in hand"
    )
    try:
        import uvloop  # what uvicorn runs on too: a faster event loop for the HTTP clients

        report = uvloop.run(main_loop())
    except ImportError:
        report = asyncio.run(main_loop())
    click.echo(
        f"push worker stopped: {report.sent} messages delivered, {report.nudges_sent} nudges "
        f"sent, {report.retried} to retry, {report.dead} dead, {report.gone} devices removed"
    )


if __name__ == "__main__":
    main()
