"""Console pages: integrations. Keys and webhook secrets (shown once, revocable), the xAPI
address with copy-paste examples for the LMS, and the intake log: what the last 200
statements and events became, so L&D can debug an LMS connection without a developer."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlmodel import col, select

from backend.console.shell import (
    ConsoleController,
    console_page,
    flash,
    form_errors,
    principal_of,
    redirect,
    use_locale,
)
from backend.db.models import ApiKey, Course, WebhookSecret
from backend.deps import app_context
from backend.integrations import services
from backend.integrations.controllers import ApiKeyCreate, WebhookSecretCreate
from backend.learning import intake_log
from backend.learning.intake_log import IntakeEntry
from backend.learning.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from backend.settings import Settings
from backend.tenancy import OrgScope
from pwa.i18n import N_, gettext

BASE = "/console/integrations"
CREATED_KEY = "console_integrations_created"  # the session's one-time secret, until shown
OUTCOME_PILLS = {
    "accepted": "pill-green",
    "duplicate": "",
    "voided": "",
    "conflict": "pill-amber",
    "rejected": "pill-red",
    "unknown_learner": "pill-amber",
}
SOURCE_PATHS = {
    "xapi": "/xapi/statements",
    "webhook": "/api/v1/webhooks/lms",
    "api": "/api/v1/events",
}


SHORT_NOTES = {
    "batch": N_("Refused with the rest of its batch"),
    "verb": N_("Not counted as learning"),
    "kept": N_("Stored; counts once they are added"),
}


@dataclass(frozen=True)
class Shown:
    """An intake log entry as a row of the page (texts translated, times local)."""

    entry: IntakeEntry
    when: str
    outcome: str
    pill: str
    source: str
    note: str
    short_note: str
    href: str


def _base_url(request: Request[Any, Any, Any], settings: Settings) -> str:
    """LEARNLOOP_BASE_URL when it is set, else the address this page was asked for."""
    if settings.base_url != Settings.base_url:
        return settings.base_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def _when(moment: datetime, request: Request[Any, Any, Any], locale: str) -> str:
    try:
        zone = ZoneInfo(principal_of(request).timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("Europe/Amsterdam")
    return format_datetime(moment, "d MMM HH:mm:ss", tzinfo=zone, locale=locale)


def _note(entry: IntakeEntry) -> str:
    key = entry.note or {
        "duplicate": "duplicate",
        "voided": "voided",
        "conflict": "conflict",
        "unknown_learner": "unknown",
    }.get(entry.outcome, "")
    return gettext(intake_log.NOTES[key]) if key in intake_log.NOTES else ""


def _shown(entry: IntakeEntry, request: Request[Any, Any, Any], locale: str) -> Shown:
    return Shown(
        entry=entry,
        when=_when(entry.received_at, request, locale),
        outcome=gettext(intake_log.OUTCOMES.get(entry.outcome, entry.outcome)),
        pill=OUTCOME_PILLS.get(entry.outcome, ""),
        source=gettext(intake_log.SOURCES.get(entry.source, entry.source)),
        note=_note(entry),
        short_note=gettext(SHORT_NOTES[entry.note]) if entry.note in SHORT_NOTES else "",
        href=f"{BASE}/intake/{entry.log_id}/{entry.index}",
    )


async def _credentials(org: OrgScope) -> dict[str, str]:
    """How the log's credential column reads: API key ids and webhook key ids, named."""
    keys = await org.all(org.select(ApiKey))
    secrets = await org.all(org.select(WebhookSecret))
    names = {str(k.id): f"{k.name} ({k.prefix}…)" for k in keys}
    names.update({s.key_id: f"{s.name} ({s.key_id})" for s in secrets})
    return names


async def _example_activity(org: OrgScope) -> str:
    """A real course activity id of the organisation for the example, if it has one."""
    activity = (
        await org.session.exec(
            select(Course.xapi_activity_id)
            .where(org.owns(Course), col(Course.xapi_activity_id).is_not(None))
            .order_by(col(Course.id))
            .limit(1)
        )
    ).first()
    return activity or "https://lms.example.com/courses/excel-basics"


def _examples(base: str, activity: str, learner: str) -> dict[str, str]:
    statement = {
        "actor": {"objectType": "Agent", "mbox": f"mailto:{learner}"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"objectType": "Activity", "id": activity},
        "timestamp": "2026-12-07T09:30:00+01:00",
    }
    body = json.dumps(statement, indent=2, ensure_ascii=False)
    curl = (
        f"curl -X POST '{base}/xapi/statements' \\\n"
        '  -u "lms:$LEARNLOOP_KEY" \\\n'
        "  -H 'X-Experience-API-Version: 1.0.3' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  --data '{body}'"
    )
    delivery = {
        "delivery_id": "evt-0001",
        "event": "course.completed",
        "learner": {"email": learner},
        "course": {"external_id": "course-7", "title": "Excel basics"},
        "occurred_at": "2026-12-07T09:30:00+01:00",
        "minutes": 45,
    }
    webhook_body = json.dumps(delivery, ensure_ascii=False)
    webhook = (
        "BODY='" + webhook_body + "'\n"
        "TS=$(date +%s)\n"
        'SIG=$(printf \'%s.%s\' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" '
        "-hex | sed 's/^.* //')\n"
        f"curl -X POST '{base}/api/v1/webhooks/lms' \\\n"
        '  -H "X-Learnloop-Webhook-Key: $WEBHOOK_KEY_ID" \\\n'
        f'  -H "{TIMESTAMP_HEADER}: $TS" \\\n'
        f'  -H "{SIGNATURE_HEADER}: v1=$SIG" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        '  --data "$BODY"'
    )
    return {
        "endpoint": f"{base}/xapi/",
        "statements": f"{base}/xapi/statements",
        "webhook_url": f"{base}/api/v1/webhooks/lms",
        "events_url": f"{base}/api/v1/events",
        "curl": curl,
        "webhook": webhook,
    }


class IntegrationsConsoleController(ConsoleController):
    path = BASE

    async def _page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        state: State,
        *,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        locale = use_locale(request)
        ctx = app_context(state)
        keys = await services.list_api_keys(org)
        secrets = await services.list_webhook_secrets(org)
        recent = await intake_log.recent(org, ctx.engine, limit=intake_log.SHOWN)
        counts = {outcome: 0 for outcome in intake_log.OUTCOMES}
        for entry in recent:
            counts[entry.outcome] = counts.get(entry.outcome, 0) + 1
        base = _base_url(request, ctx.settings)
        return console_page(
            request,
            "console/integrations/index.html",
            {
                "keys": keys,
                "secrets": secrets,
                "when": lambda moment: _when(moment, request, locale) if moment else "",
                "examples": _examples(
                    base, await _example_activity(org), principal_of(request).email
                ),
                "recent_total": len(recent),
                "counts": [
                    (outcome, gettext(label), OUTCOME_PILLS[outcome], counts[outcome])
                    for outcome, label in intake_log.OUTCOMES.items()
                ],
                "latest": [_shown(e, request, locale) for e in recent[:5]],
                "errors": errors or {},
                "values": values or {},
                "tab": "connect",
            },
            section="integrations",
            title=gettext(N_("Integrations")),
            status_code=status_code,
        )

    @get("/", name="console:integrations")
    async def index(self, request: Request[Any, Any, Any], org: OrgScope, state: State) -> Template:
        return await self._page(request, org, state)

    @post("/keys", name="console:integrations:create-key")
    async def create_key(
        self, request: Request[Any, Any, Any], org: OrgScope, state: State
    ) -> Template | Redirect:
        use_locale(request)
        form = await request.form()
        name = form.get("key_name", "")
        try:
            data = ApiKeyCreate(name=name)
        except ValidationError as exc:
            return await self._page(
                request,
                org,
                state,
                errors={"key_name": form_errors(exc).get("name", "")},
                values={"key_name": name},
                status_code=400,
            )
        created = await services.create_api_key(
            org.session,
            org.organisation_id,
            data.name,
            principal_of(request).user_id,
            audit_scope=org,
        )
        _stash(request, "key", created.name, created.key, created.prefix)
        return redirect(f"{BASE}/created")

    @post("/webhook-secrets", name="console:integrations:create-secret")
    async def create_secret(
        self, request: Request[Any, Any, Any], org: OrgScope, state: State
    ) -> Template | Redirect:
        use_locale(request)
        form = await request.form()
        name = form.get("secret_name", "")
        try:
            data = WebhookSecretCreate(name=name)
        except ValidationError as exc:
            return await self._page(
                request,
                org,
                state,
                errors={"secret_name": form_errors(exc).get("name", "")},
                values={"secret_name": name},
                status_code=400,
            )
        created = await services.create_webhook_secret(
            org.session,
            app_context(state).settings,
            org.organisation_id,
            data.name,
            audit_scope=org,
        )
        _stash(request, "secret", created.name, created.secret, created.key_id)
        return redirect(f"{BASE}/created")

    @get("/created", name="console:integrations:created")
    async def created(
        self, request: Request[Any, Any, Any], org: OrgScope, state: State
    ) -> Template | Redirect:
        """The new key or secret, this once: it leaves the session as it is shown."""
        use_locale(request)
        session = dict(request.session or {})
        shown = session.pop(CREATED_KEY, None)
        if not isinstance(shown, dict):
            flash(
                request,
                gettext(N_("A key is shown only once. Create a new one if it was lost.")),
                "error",
            )
            return redirect(BASE, lang=request.query_params.get("lang"))
        request.set_session(session)
        ctx = app_context(state)
        examples = _examples(
            _base_url(request, ctx.settings),
            await _example_activity(org),
            principal_of(request).email,
        )
        is_key = shown.get("kind") == "key"
        return console_page(
            request,
            "console/integrations/created.html",
            {"shown": shown, "is_key": is_key, "examples": examples},
            section="integrations",
            title=gettext(N_("New API key")) if is_key else gettext(N_("New webhook secret")),
        )

    @post("/keys/{key_id:int}/revoke", name="console:integrations:revoke-key")
    async def revoke_key(
        self, request: Request[Any, Any, Any], org: OrgScope, state: State, key_id: int
    ) -> Redirect:
        use_locale(request)
        key = await org.get(ApiKey, key_id, what="API key")
        try:
            await services.revoke_api_key(org, key_id, app_context(state).api_keys)
        except ClientException:
            flash(request, gettext(N_("This key was already revoked.")), "error")
            return redirect(BASE)
        flash(request, gettext(N_("Revoked “%(name)s”. It no longer works.")) % {"name": key.name})
        return redirect(BASE)

    @post("/webhook-secrets/{secret_id:int}/revoke", name="console:integrations:revoke-secret")
    async def revoke_secret(
        self, request: Request[Any, Any, Any], org: OrgScope, secret_id: int
    ) -> Redirect:
        use_locale(request)
        secret = await org.get(WebhookSecret, secret_id, what="webhook secret")
        try:
            await services.revoke_webhook_secret(org, secret_id)
        except ClientException:
            flash(request, gettext(N_("This secret was already revoked.")), "error")
            return redirect(BASE)
        flash(
            request, gettext(N_("Revoked “%(name)s”. It no longer works.")) % {"name": secret.name}
        )
        return redirect(BASE)

    @get("/intake", name="console:integrations:intake")
    async def intake(
        self, request: Request[Any, Any, Any], org: OrgScope, state: State
    ) -> Template:
        locale = use_locale(request)
        outcome = request.query_params.get("outcome") or ""
        source = request.query_params.get("source") or ""
        outcome = outcome if outcome in intake_log.OUTCOMES else ""
        source = source if source in intake_log.SOURCES else ""
        entries = await intake_log.recent(
            org, app_context(state).engine, outcome=outcome, source=source
        )
        return console_page(
            request,
            "console/integrations/intake.html",
            {
                "rows": [_shown(e, request, locale) for e in entries],
                "outcome": outcome,
                "source": source,
                "outcomes": [(k, gettext(v)) for k, v in intake_log.OUTCOMES.items()],
                "sources": [(k, gettext(v)) for k, v in intake_log.SOURCES.items()],
                "shown_max": intake_log.SHOWN,
                "credentials": await _credentials(org),
                "tab": "intake",
            },
            section="integrations",
            title=gettext(N_("Integrations")),
        )

    @get("/intake/{log_id:int}/{index:int}", name="console:integrations:entry")
    async def entry(
        self, request: Request[Any, Any, Any], org: OrgScope, state: State, log_id: int, index: int
    ) -> Template:
        locale = use_locale(request)
        detail = await intake_log.detail(org, app_context(state).engine, log_id, index)
        return console_page(
            request,
            "console/integrations/entry.html",
            {
                "row": _shown(detail, request, locale),
                "detail": detail,
                "credential": (await _credentials(org)).get(detail.credential, detail.credential),
                "path": SOURCE_PATHS.get(detail.source, ""),
            },
            section="integrations",
            title=gettext(N_("Received statement")),
        )


def _stash(request: Request[Any, Any, Any], kind: str, name: str, secret: str, ident: str) -> None:
    """Keep a new key or secret in the (encrypted) session until its page shows it once."""
    session = dict(request.session or {})
    session[CREATED_KEY] = {"kind": kind, "name": name, "secret": secret, "id": ident}
    request.set_session(session)


CONTROLLERS = [IntegrationsConsoleController]
