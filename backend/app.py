"""The Litestar application factory: ``backend.app:create_app``."""

import html
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, MediaType, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from backend.accounts.controllers import (
    AuthController,
    JobFamilyController,
    MeController,
    UserAdminController,
)
from backend.accounts.privacy import PrivacyController
from backend.audit.controllers import AuditController
from backend.auth.middleware import AuthenticationMiddleware, LearnloopCSRFMiddleware
from backend.auth.sessions import SessionCookieConfig
from backend.badges.controllers import (
    BadgeAwardController,
    BadgeController,
    BadgeCredentialController,
    MyBadgesController,
)
from backend.budgets.controllers import BudgetController
from backend.catalogue.controllers import (
    CompetencyController,
    CourseController,
    HotSkillSeasonController,
)
from backend.catalogue.testimonials import (
    TestimonialController,
    TestimonialModerationController,
)
from backend.challenges.controllers import ChallengeController, TeamChallengeController
from backend.console.routes import CONSOLE_CONTROLLERS
from backend.console.shell import console_exception_response
from backend.context import AppContext
from backend.db.replica import ReplicaMiddleware
from backend.deps import provide_db_session, provide_principal
from backend.health.controllers import HealthController
from backend.imports.controllers import ImportController
from backend.insights.controllers import insights_router
from backend.integrations.controllers import (
    ApiKeyController,
    IntakeLogController,
    IntegrationController,
    WebhookSecretController,
)
from backend.kudos.controllers import KudosController, MyKudosController
from backend.learning import intake_log, xapi
from backend.learning.controllers import (
    EventIngestController,
    LearnerController,
    LmsWebhookController,
    XapiController,
)
from backend.lrs.alternate import install as install_alternate_syntax
from backend.lrs.controllers import XapiDocumentController
from backend.nudges.controllers import NudgeController
from backend.ops.middleware import install as install_operations
from backend.organisations.controllers import GameRulesController, OrganisationController
from backend.process_tuning import tune_garbage_collector
from backend.progress.controllers import (
    LeaderboardController,
    MyGoalsController,
    MyPausesController,
    MyProgressController,
)
from backend.push.controllers import MyPushSubscriptionController, PushKeyController
from backend.recommendations.controllers import MyRecommendationsController
from backend.request_body import LearnloopRequest
from backend.settings import Settings, get_settings
from backend.teams.controllers import TeamController, TeamOverviewController
from backend.web.catalogue_pages import CataloguePageController
from backend.web.controllers import WebController
from backend.web.goals_page import GoalsPageController
from backend.web.log_page import LogPageController
from backend.web.pages import choose_locale, render
from backend.web.progress_page import ProgressPageController
from backend.web.pwa_routes import PwaController
from backend.web.recommendation_pages import RecommendationPageController
from backend.web.settings_page import SettingsPageController
from backend.web.setup_page import SetupPageController
from backend.web.team_page import TeamPageController
from backend.web.template_texts import install_template_texts
from backend.web.welcome_page import WelcomePageController
from pwa.i18n import N_, gettext, set_locale

log = logging.getLogger("learnloop")

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"

XAPI_AUTHENTICATE = 'Basic realm="learnloop xAPI", charset="UTF-8"'

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'; manifest-src 'self'; worker-src 'self'"
)


class ApiDocsRenderPlugin(OpenAPIRenderPlugin):
    """The API docs at /schema: Swagger UI served from /static/vendor, under the strict CSP.

    Litestar's own pages load their script from a CDN and start it with an inline script,
    which the CSP blocks (a blank page); this one references only files of the app.
    """

    def __init__(self) -> None:
        super().__init__(path="/", favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        spec = html.escape(self.get_openapi_json_route(request))
        vendor = "/static/vendor/swagger-ui"
        return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" href="/static/icons/icon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{vendor}/swagger-ui.css">
  <link rel="stylesheet" href="/static/css/api-docs.css">
  <script src="{vendor}/swagger-ui-bundle.js" defer></script>
  <script src="/static/js/api-docs.js" defer></script>
</head>
<body>
  <noscript><p class="api-docs-fallback">These docs need JavaScript. The API is described in
    <a href="{spec}">{spec}</a>.</p></noscript>
  <div id="api-docs" data-openapi-url="{spec}"></div>
</body>
</html>
""".encode()


ROUTE_HANDLERS: list[Any] = [
    HealthController,
    AuthController,
    MeController,
    PrivacyController,
    UserAdminController,
    JobFamilyController,
    OrganisationController,
    GameRulesController,
    ImportController,
    NudgeController,
    TeamController,
    TeamOverviewController,
    CompetencyController,
    CourseController,
    HotSkillSeasonController,
    TestimonialController,
    TestimonialModerationController,
    AuditController,
    ApiKeyController,
    IntegrationController,
    IntakeLogController,
    WebhookSecretController,
    EventIngestController,
    XapiController,
    XapiDocumentController,
    LmsWebhookController,
    LearnerController,
    BadgeController,
    MyBadgesController,
    BadgeAwardController,
    BadgeCredentialController,
    ChallengeController,
    TeamChallengeController,
    MyGoalsController,
    MyPausesController,
    MyProgressController,
    LeaderboardController,
    PushKeyController,
    MyPushSubscriptionController,
    KudosController,
    MyKudosController,
    MyRecommendationsController,
    insights_router,
    BudgetController,
    WebController,
    CataloguePageController,
    ProgressPageController,
    GoalsPageController,
    RecommendationPageController,
    TeamPageController,
    LogPageController,
    SettingsPageController,
    WelcomePageController,
    SetupPageController,
    PwaController,
    *CONSOLE_CONTROLLERS,
]


def _jinja_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(PWA_DIR / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
    )
    install_template_texts(env)  # the catalogs' texts and the number filter, kept per process
    return env


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/xapi", "/schema", "/healthz", "/static/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _error_page(
    request: Request[Any, Any, Any], status: int, title: str, message: str
) -> Response[Any]:
    principal = request.scope.get("user")
    locale = choose_locale(request, principal)
    set_locale(locale)
    return render(
        request,
        "error.html",
        {"title": gettext(title), "message": gettext(message)},
        locale=locale,
        status_code=status,
    )


def _http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code in (401, 403):  # console pages are HTML only
        page = console_exception_response(request, exc)
        if page is not None:
            return page
    if isinstance(exc, NotFoundException) and _wants_html(request):
        return _error_page(
            request, 404, N_("Page not found"), N_("This page does not exist (any more).")
        )
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
    headers = exc.headers
    if request.url.path.startswith("/xapi"):
        # every xAPI answer names the version, refusals too (Communication 3.3)
        headers = {**(headers or {}), xapi.VERSION_HEADER: xapi.XAPI_VERSION}
        if exc.status_code == 401:
            # xAPI clients sign in with Basic (xAPI 1.0.3, part three, 4.1)
            headers["WWW-Authenticate"] = XAPI_AUTHENTICATE
    return Response(body, status_code=exc.status_code, headers=headers, media_type=MediaType.JSON)


def _integrity_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # a uniqueness race the service did not anticipate: the request conflicts with existing data
    log.info("integrity error on %s %s: %s", request.method, request.url.path, _cause(exc))
    return Response(
        {"status_code": 409, "detail": "this conflicts with data that already exists"},
        status_code=409,
        media_type=MediaType.JSON,
    )


def _data_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # the database refused a value the schemas let through (e.g. out of its range)
    log.info("data error on %s %s: %s", request.method, request.url.path, _cause(exc))
    return Response(
        {
            "status_code": 400,
            "detail": "a value in this request is out of range or cannot be stored",
        },
        status_code=400,
        media_type=MediaType.JSON,
    )


def _overflow_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # date or number arithmetic on a value the request sent, past what can be computed
    log.info("overflow on %s %s: %s", request.method, request.url.path, exc)
    return Response(
        {
            "status_code": 400,
            "detail": "a date or number in this request is too far out to be used",
        },
        status_code=400,
        media_type=MediaType.JSON,
    )


def _undecodable_body_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Bytes a route decoded itself rather than through ``backend.request_body`` (which
    names the body and its bound): not UTF-8, or nested past the stack."""
    if isinstance(exc, RecursionError) and not any(
        word in str(exc) for word in ("decod", "deserializ")
    ):
        return _internal_error_handler(request, exc)  # our own recursion: a bug, not input
    log.info("undecodable body on %s %s: %s", request.method, request.url.path, exc)
    problem = (
        "holds bytes that are not valid UTF-8"
        if isinstance(exc, UnicodeDecodeError)
        else "holds data nested too deeply"
    )
    return Response(
        {"status_code": 400, "detail": f"this request {problem}"},
        status_code=400,
        media_type=MediaType.JSON,
    )


def _operational_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, _cause(exc))
    return Response(
        {"status_code": 503, "detail": "the database is briefly unavailable; try again"},
        status_code=503,
        headers={"Retry-After": "5"},
        media_type=MediaType.JSON,
    )


def _dbapi_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """SQLAlchemy's plain DBAPIError: what its asyncpg dialect raises for errors it has no
    class for, such as "the database system is starting up" (57P03) while PostgreSQL
    restarts. A connection-class SQLSTATE is the database being away: 503, like its twins."""
    cause = _cause(exc)
    state = str(getattr(cause, "sqlstate", "") or getattr(cause, "pgcode", "") or "")[:2]
    if getattr(exc, "connection_invalidated", False) or state in {"08", "53", "57"}:
        return _operational_error_handler(request, exc)
    return _internal_error_handler(request, exc)


def _pool_timeout_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every database connection of this process stayed busy for the pool's timeout (a burst):
    the client tries again shortly rather than queueing without limit."""
    log.warning("no database connection free on %s %s: %s", request.method, request.url.path, exc)
    return Response(
        {"status_code": 503, "detail": "learnloop is busy right now; try again in a few seconds"},
        status_code=503,
        headers={"Retry-After": "2"},
        media_type=MediaType.JSON,
    )


def _cause(exc: Exception) -> Any:
    """The driver's error behind SQLAlchemy's wrapper (raw asyncpg errors are their own)."""
    return getattr(exc, "orig", exc)


def _asyncpg_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors of the statements that run on raw asyncpg connections (ingestion, the nudge
    tick, the push outbox), answered as their SQLAlchemy-wrapped twins are, by SQLSTATE class."""
    state = str(getattr(exc, "sqlstate", "") or "")[:2]
    # a query argument the driver could not encode (its DataError is a ValueError), or a value
    # the server refused
    if isinstance(exc, ValueError) or state == "22":
        return _data_error_handler(request, exc)
    if state == "23":
        return _integrity_error_handler(request, exc)
    if isinstance(exc, asyncpg.InterfaceError) or state in {"08", "53", "57"}:
        # connection lost, too many connections, server shutting down, statement cancelled
        return _operational_error_handler(request, exc)
    return _internal_error_handler(request, exc)


def _internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if _wants_html(request):
        return _error_page(
            request,
            500,
            N_("Something went wrong"),
            N_("We could not show this page. Please try again."),
        )
    return Response(
        {"status_code": 500, "detail": "internal server error"},
        status_code=500,
        media_type=MediaType.JSON,
    )


SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


# in production behind https: browsers then never try plain http for a year
HSTS = {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"}


def _security_headers_of(settings: Settings) -> Callable[[Response[Any]], Awaitable[Response[Any]]]:
    headers = {
        **SECURITY_HEADERS,
        **(HSTS if not settings.is_dev and settings.base_url.startswith("https://") else {}),
    }

    async def security_headers(response: Response[Any]) -> Response[Any]:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    return security_headers


def create_app(settings: Settings | None = None, *, context: AppContext | None = None) -> Litestar:
    """Build the app. Tests pass their own ``settings`` (or a ready ``context``)."""
    if context is None:
        context = AppContext.from_settings(settings or get_settings())
    settings = context.settings

    session_config = SessionCookieConfig(
        secret=settings.derived_key("session", 32),
        key="learnloop_session",
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    csrf_config = CSRFConfig(
        secret=settings.derived_key("csrf", 32).hex(),
        cookie_name="learnloop_csrf",
        header_name="x-csrf-token",
        cookie_secure=settings.secure_cookies,
        cookie_httponly=False,  # the PWA's scripts send it back in the X-CSRF-Token header
        cookie_samesite="lax",
    )

    async def _dispose_engine() -> None:
        await intake_log.flush(context.engine)
        await context.engine.dispose()
        if context.replica is not None:
            await context.replica.dispose()

    # a server process (not the test suite, which starts many apps in one process)
    on_startup: list[Any] = [] if settings.env == "test" else [tune_garbage_collector]
    on_shutdown: list[Any] = [_dispose_engine]
    if settings.push_in_process:  # the embedded default: push workers + scheduler in this process
        from backend.push.worker import InProcessWorker

        push_worker = InProcessWorker(context)
        on_startup.append(push_worker.start)
        on_shutdown.insert(0, push_worker.stop)

    app = Litestar(
        route_handlers=[
            *ROUTE_HANDLERS,
            create_static_files_router(
                path="/static", directories=[PWA_DIR / "static"], include_in_schema=False
            ),
        ],
        middleware=[
            session_config.middleware,
            DefineMiddleware(AuthenticationMiddleware),
            DefineMiddleware(LearnloopCSRFMiddleware, config=csrf_config),
            ReplicaMiddleware,  # read-your-writes and the replica's fallback (backend/db/replica)
        ],
        dependencies={
            "db_session": Provide(provide_db_session),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        state=State({"ctx": context}),
        template_config=TemplateConfig(
            engine=JinjaTemplateEngine.from_environment(_jinja_environment())
        ),
        openapi_config=OpenAPIConfig(
            title="learnloop API",
            version="1",
            description="Learning-habit platform: catalogue, learners, teams and integrations.",
            path="/schema",
            render_plugins=[ApiDocsRenderPlugin(), JsonRenderPlugin()],
        ),
        exception_handlers={
            HTTPException: _http_exception_handler,
            IntegrityError: _integrity_error_handler,
            DataError: _data_error_handler,
            OperationalError: _operational_error_handler,
            DBAPIError: _dbapi_error_handler,  # its other subclasses have their own above
            # the driver adapter's error, unwrapped: a raw pooled connection (ingestion, the
            # session check) meeting a server that is starting up or shutting down
            AsyncAdapt_asyncpg_dbapi.Error: _dbapi_error_handler,
            # a connection left mid-operation when the server went away under it
            asyncpg.InternalClientError: _operational_error_handler,
            # the database refused or dropped the connection, or did not answer in time
            ConnectionError: _operational_error_handler,
            TimeoutError: _operational_error_handler,
            PoolTimeoutError: _pool_timeout_handler,
            OverflowError: _overflow_error_handler,
            UnicodeDecodeError: _undecodable_body_handler,
            RecursionError: _undecodable_body_handler,
            asyncpg.PostgresError: _asyncpg_error_handler,
            asyncpg.InterfaceError: _asyncpg_error_handler,
            Exception: _internal_error_handler,
        },
        after_request=_security_headers_of(settings),
        request_class=LearnloopRequest,  # every JSON and form body read one way (request_body)
        request_max_body_size=settings.max_body_bytes,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        debug=False,
        logging_config=None,  # the process's own (backend.log_config): one format everywhere
    )
    install_alternate_syntax(app)  # xAPI's alternate request syntax, before routing
    # request ids, the request counter and /metrics, outside everything else (backend/ops)
    return install_operations(app, context)
