"""Badge catalogue (everyone reads, L&D writes), the learner's badge wall, and the public
Open Badges 3.0 credential, issuer and key routes that verifiers fetch without signing in."""

import hashlib
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, patch, post, put
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, PermissionDeniedException
from litestar.params import Body, QueryParameter
from litestar.response import Redirect, Template
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.guards import requires_ld_admin, requires_user
from backend.auth.principal import Principal
from backend.badges import services
from backend.badges.baking import bake
from backend.badges.credential_page import credential_view, wants_html
from backend.badges.credentials import (
    JSON_LD_MEDIA_TYPE,
    JWT_MEDIA_TYPE,
    BadgeSigningKey,
    build_credential,
    issuer_profile,
    vc_jwt,
)
from backend.badges.emblems import SVG_CSP, SVG_MEDIA_TYPE
from backend.badges.schemas import (
    BadgeCreate,
    BadgeDefinitionOut,
    BadgeOut,
    BadgePreviewIn,
    BadgePreviewOut,
    BadgeStatsOut,
    BadgeUpdate,
    BadgeWallItem,
    EmblemIn,
    RevokedOut,
    RevokeIn,
)
from backend.deps import app_context, provide_scope
from backend.settings import Settings
from backend.tenancy import OrgScope
from backend.web.pages import not_found_page, render, signed_in
from pwa.i18n import N_, SUPPORTED_LOCALES, negotiate

MAX_DB_ID = 2**31 - 1


class BadgeController(Controller):
    path = "/api/v1/badges"
    tags = ["badges"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", guards=[requires_user], summary="The organisation's badges and how to earn them")
    async def list_badges(
        self, org: OrgScope, principal: Principal, include_inactive: bool = False
    ) -> list[BadgeOut]:
        if include_inactive and not principal.is_ld_admin:
            raise PermissionDeniedException("only L&D admins see switched-off badges")
        return await services.list_badges(org, principal, include_inactive=include_inactive)

    @get("/{badge_id:int}", guards=[requires_ld_admin], summary="One badge definition (L&D admin)")
    async def get_badge(
        self, org: OrgScope, principal: Principal, badge_id: int
    ) -> BadgeDefinitionOut:
        return await services.get_badge(org, principal, badge_id)

    @post("/", guards=[requires_ld_admin], summary="Define a badge (L&D admin)")
    async def create_badge(
        self, org: OrgScope, principal: Principal, data: BadgeCreate
    ) -> BadgeDefinitionOut:
        return await services.create_badge(org, principal, data)

    @patch("/{badge_id:int}", guards=[requires_ld_admin], summary="Change a badge (L&D admin)")
    async def update_badge(
        self, org: OrgScope, principal: Principal, badge_id: int, data: BadgeUpdate
    ) -> BadgeDefinitionOut:
        return await services.update_badge(org, principal, badge_id, data)

    @post(
        "/{badge_id:int}/deactivate",
        guards=[requires_ld_admin],
        status_code=200,
        summary="Deactivate a badge: learners no longer see or earn it; earned tiers stay "
        "(L&D admin)",
    )
    async def deactivate_badge(
        self, org: OrgScope, principal: Principal, badge_id: int
    ) -> BadgeDefinitionOut:
        return await services.set_active(org, principal, badge_id, False)

    @post(
        "/{badge_id:int}/reactivate",
        guards=[requires_ld_admin],
        status_code=200,
        summary="Reactivate a badge (L&D admin)",
    )
    async def reactivate_badge(
        self, org: OrgScope, principal: Principal, badge_id: int
    ) -> BadgeDefinitionOut:
        return await services.set_active(org, principal, badge_id, True)

    @get(
        "/{badge_id:int}/emblem",
        guards=[requires_user],
        summary="A badge's emblem (SVG or PNG)",
        media_type="image/*",
    )
    async def emblem(
        self, request: Request[Any, Any, Any], org: OrgScope, badge_id: int
    ) -> Response[bytes]:
        media_type, data = await services.emblem_image(org, badge_id)
        etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
        headers = {
            "Cache-Control": "private, no-cache",  # revalidated: a new design shows at once
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
        }
        if media_type == SVG_MEDIA_TYPE:
            headers["Content-Security-Policy"] = SVG_CSP
        if request.headers.get("if-none-match") == etag:
            return Response(b"", status_code=304, headers=headers, media_type=media_type)
        return Response(data, media_type=media_type, headers=headers)

    @put(
        "/{badge_id:int}/emblem",
        guards=[requires_ld_admin],
        summary="Set a badge's emblem: a generated design (shape, colour, icon) or an uploaded "
        "SVG/PNG, sanitised (L&D admin)",
    )
    async def set_emblem(
        self, org: OrgScope, principal: Principal, badge_id: int, data: EmblemIn
    ) -> BadgeDefinitionOut:
        return await services.set_emblem(org, principal, badge_id, data)

    @get(
        "/{badge_id:int}/stats",
        guards=[requires_ld_admin],
        summary="Per tier: how many learners earned it and how many would qualify today "
        "(L&D admin)",
    )
    async def badge_stats(
        self, org: OrgScope, principal: Principal, badge_id: int
    ) -> BadgeStatsOut:
        return await services.badge_stats(org, principal, badge_id)

    @post(
        "/preview",
        guards=[requires_ld_admin],
        status_code=200,
        summary="Preview a badge being designed: its texts, emblem and how many learners "
        "would qualify today; nothing is stored (L&D admin)",
    )
    async def preview_badge(self, org: OrgScope, data: BadgePreviewIn) -> BadgePreviewOut:
        return await services.preview_badge(org, data)


class BadgeAwardController(Controller):
    path = "/api/v1/badges/awards"
    tags = ["badges"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @post(
        "/{public_id:str}/revoke",
        guards=[requires_ld_admin],
        status_code=200,
        summary="Revoke an awarded tier: its credential page says so and why, verifiers get "
        "410 Gone (L&D admin)",
    )
    async def revoke(
        self, org: OrgScope, principal: Principal, public_id: str, data: RevokeIn
    ) -> RevokedOut:
        award = await services.revoke_award(org, principal, public_id, data.reason)
        assert award.revoked_at is not None
        return RevokedOut(
            public_id=award.public_id,
            revoked_at=award.revoked_at,
            revocation_reason=award.revocation_reason,
        )


class MyBadgesController(Controller):
    path = "/api/v1/me/badges"
    tags = ["me"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="My badge wall: earned tiers and progress towards the locked ones")
    async def badge_wall(
        self, org: OrgScope, principal: Principal, state: State
    ) -> list[BadgeWallItem]:
        return await services.badge_wall(org, principal, app_context(state).settings.base_url)


def _not_found(detail: str) -> Response[Any]:
    # JSON for verifiers and wallets (a browser asking for a credential's page gets HTML)
    return Response(
        {"status_code": 404, "detail": detail}, status_code=404, media_type=MediaType.JSON
    )


class RevokeForm(BaseModel):
    reason: str = ""


def _credential_page(
    request: Request[Any, Any, Any],
    settings: Settings,
    record: services.AwardRecord,
    *,
    error: str = "",
    status_code: int = 200,
) -> Template:
    """The credential's page; L&D of the issuing organisation also get the revoke form."""
    credential = build_credential(services.credential_content(record, settings))
    key = BadgeSigningKey.from_settings(settings)
    principal = signed_in(request)
    locale = _page_locale(request, record.organisation.default_locale, principal)
    view = credential_view(record, credential, key, locale)
    can_revoke = (
        principal is not None
        and principal.is_ld_admin
        and principal.organisation_id == record.award.organisation_id
        and not view.revoked
    )
    page = render(
        request,
        "credential.html",
        {"view": view, "can_revoke": can_revoke, "error": error},
        locale=locale,
        status_code=status_code,
    )
    page.headers["Vary"] = "Accept, Accept-Language, Cookie"
    page.headers["Cache-Control"] = "private, no-cache"
    return page


def _revoked(record: services.AwardRecord) -> Response[Any]:
    """What verifiers get for a revoked award (the page says it in words)."""
    award = record.award
    assert award.revoked_at is not None
    return Response(
        {
            "status_code": 410,
            "detail": "this badge credential was revoked",
            "revoked": True,
            "revokedAt": award.revoked_at.isoformat(),
            "revocationReason": award.revocation_reason,
        },
        status_code=410,
        media_type=MediaType.JSON,
        headers={"Vary": "Accept"},
    )


def _page_locale(
    request: Request[Any, Any, Any],
    organisation_locale: str | None,
    principal: Principal | None = None,
) -> str:
    """?lang= first, then a signed-in reader's own language, then the reader's browser, then
    the issuing organisation's language."""
    wanted = request.query_params.get("lang")
    if wanted in SUPPORTED_LOCALES:
        return str(wanted)
    if principal is not None:
        return principal.locale
    default = "en" if (organisation_locale or "").startswith("en") else "nl"
    return negotiate(request.headers.get("accept-language"), default=default)


def _json_ld(document: dict[str, Any]) -> Response[Any]:
    return Response(document, media_type=JSON_LD_MEDIA_TYPE)


class BadgeCredentialController(Controller):
    """Public on purpose: a credential link is shared with employers, who have no account."""

    path = "/"
    tags = ["open badges"]

    @get(
        "/badges/credentials/{public_id:str}",
        summary="An awarded badge: a page for people (Accept: text/html), else the Open Badges "
        "3.0 credential as JSON-LD (or a VC-JWT with a .jwt suffix or ?format=jwt; a .json "
        "suffix or ?format=json forces JSON-LD); 410 once revoked",
        opt={"public": True},
    )
    async def credential(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        public_id: str,
        response_format: Annotated[str | None, QueryParameter(name="format", max_length=10)] = None,
    ) -> Response[Any] | Template:
        as_jwt = response_format == "jwt" or public_id.endswith(".jwt")
        as_data = as_jwt or response_format == "json" or public_id.endswith(".json")
        as_page = not as_data and wants_html(request.headers.get("accept"))
        public_id = public_id.removesuffix(".jwt").removesuffix(".json")
        settings = app_context(state).settings
        record = await services.find_award(db_session, public_id[:40])
        if record is None:
            if as_page:
                return not_found_page(request, _page_locale(request, None))
            return _not_found("no badge credential with this id")
        if as_page:
            return _credential_page(request, settings, record)
        credential = build_credential(services.credential_content(record, settings))
        key = BadgeSigningKey.from_settings(settings)
        if record.award.revoked_at is not None:
            return _revoked(record)
        if as_jwt:
            token = vc_jwt(credential, key)
            return Response(token.encode("ascii"), media_type=JWT_MEDIA_TYPE)
        return Response(credential, media_type=JSON_LD_MEDIA_TYPE, headers={"Vary": "Accept"})

    @post(
        "/badges/credentials/{public_id:str}/revoke",
        guards=[requires_ld_admin],
        dependencies={"org": Provide(provide_scope, sync_to_thread=False)},
        include_in_schema=False,
    )
    async def revoke_from_page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        org: OrgScope,
        principal: Principal,
        public_id: str,
        data: Annotated[RevokeForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        """The credential page's form for L&D (the same service as the API's revoke)."""
        try:
            await services.revoke_award(org, principal, public_id, data.reason)
        except ClientException as exc:
            record = await services.find_award(org.session, public_id[:40])
            if record is None or record.award.organisation_id != org.organisation_id:
                raise
            settings = app_context(state).settings
            message = (
                N_("This badge was already revoked.")
                if exc.status_code == 409
                else N_("Say why you revoke this badge, in at most 300 characters.")
            )
            return _credential_page(
                request, settings, record, error=message, status_code=exc.status_code
            )
        return Redirect(f"/badges/credentials/{public_id[:40]}", status_code=303)

    @get(
        "/badges/credentials/{public_id:str}/image",
        summary="The badge image with its signed credential baked in (Open Badges 3.0 baking: "
        "SVG or PNG), to download; 410 once revoked",
        opt={"public": True},
        media_type="image/*",
    )
    async def baked_image(
        self, state: State, db_session: AsyncSession, public_id: str
    ) -> Response[Any]:
        record = await services.find_award(db_session, public_id[:40])
        if record is None:
            return _not_found("no badge credential with this id")
        if record.award.revoked_at is not None:
            return _revoked(record)
        settings = app_context(state).settings
        credential = build_credential(services.credential_content(record, settings))
        token = vc_jwt(credential, BadgeSigningKey.from_settings(settings))
        media_type, image = await services.credential_emblem(db_session, record)
        extension = "png" if media_type == "image/png" else "svg"
        award = record.award
        headers = {
            "Content-Disposition": f'attachment; filename="{award.badge_code}-{award.tier}.'
            f'{extension}"',
            "X-Content-Type-Options": "nosniff",
        }
        if media_type == SVG_MEDIA_TYPE:
            headers["Content-Security-Policy"] = SVG_CSP
        return Response(bake(media_type, image, token), media_type=media_type, headers=headers)

    @get(
        "/badges/credentials/{public_id:str}/emblem",
        summary="The emblem of an awarded badge (SVG or PNG), for its public page",
        opt={"public": True},
        media_type="image/*",
    )
    async def credential_emblem(self, db_session: AsyncSession, public_id: str) -> Response[Any]:
        record = await services.find_award(db_session, public_id[:40])
        if record is None:
            return _not_found("no badge credential with this id")
        media_type, data = await services.credential_emblem(db_session, record)
        headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
        if media_type == SVG_MEDIA_TYPE:
            headers["Content-Security-Policy"] = SVG_CSP
        return Response(data, media_type=media_type, headers=headers)

    @get(
        "/badges/issuers/{organisation_id:int}",
        summary="The issuer profile of an organisation's badge credentials",
        opt={"public": True},
    )
    async def issuer(
        self, state: State, db_session: AsyncSession, organisation_id: int
    ) -> Response[Any]:
        if not 1 <= organisation_id <= MAX_DB_ID:
            return _not_found("no such issuer")
        organisation = await services.issuing_organisation(db_session, organisation_id)
        if organisation is None:
            return _not_found("no such issuer")
        base_url = app_context(state).settings.base_url
        return _json_ld(issuer_profile(base_url, organisation_id, organisation.name))

    @get(
        "/.well-known/jwks.json",
        summary="The public key badge credentials are signed with (JWKS)",
        opt={"public": True},
    )
    async def jwks(self, state: State) -> Response[Any]:
        key = BadgeSigningKey.from_settings(app_context(state).settings)
        return Response(
            key.jwks(),
            media_type=MediaType.JSON,
            headers={"Cache-Control": "public, max-age=3600"},
        )
