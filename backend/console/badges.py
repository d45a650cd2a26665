"""Console pages: the badge designer.

A badge's criterion is one of the engine's kinds (``gamification.badges``), offered as a
plain choice ("Complete courses", "Hours of learning", ...) with its parameters; the form
turns it into the same ``BadgeCreate`` / ``BadgeUpdate`` document the JSON API takes and
calls the same services, so the rules (and their 400s) are the API's.
"""

import re
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import ClientException
from litestar.response import Redirect, Response, Template
from pydantic import ValidationError
from sqlmodel import col

from backend.badges import services
from backend.badges.emblems import (
    COLOURS,
    ICONS,
    MAX_UPLOAD_BYTES,
    SHAPES,
    SVG_CSP,
    SVG_MEDIA_TYPE,
    EmblemDesign,
    default_design,
    render_emblem,
)
from backend.badges.schemas import (
    BadgeCreate,
    BadgePreviewIn,
    BadgePreviewOut,
    BadgeUpdate,
    EmblemDesignIn,
)
from backend.badges.texts import language_of, localized
from backend.console.shell import (
    ConsoleController,
    console_page,
    flash,
    form_errors,
    principal_of,
    redirect,
    use_locale,
)
from backend.db.models import BadgeDefinition as BadgeDefinitionRow
from backend.db.models import Competency
from backend.learning.rules import org_rules
from backend.tenancy import OrgScope
from gamification import StreakMode
from pwa.i18n import N_, gettext

TIER_ROWS = 5


@dataclass(frozen=True)
class Measure:
    """A criterion choice: the engine's kind (and event kind) in words."""

    key: str
    kind: str
    event_kind: str | None
    label: str  # N_
    unit: str  # N_: what the tier numbers count
    narrows: bool = True  # competency and period apply


MEASURES: tuple[Measure, ...] = (
    Measure("courses", "event_count", "completion", N_("Complete courses"), N_("courses")),
    Measure("activities", "event_count", None, N_("Record learning activities"), N_("activities")),
    Measure("moments", "event_count", "informal", N_("Log learning moments"), N_("moments")),
    Measure(
        "experiences", "event_count", "experience", N_("Record on-the-job experiences"),
        N_("experiences"),
    ),
    Measure("hours", "total_minutes", None, N_("Hours of learning"), N_("hours")),
    Measure("minutes", "total_minutes", None, N_("Minutes of learning"), N_("minutes")),
    Measure(
        "competencies", "distinct_competencies", None, N_("Learn in different competencies"),
        N_("competencies"),
    ),
    Measure(
        "hot_skills", "hot_skill_completions", None, N_("Complete hot-skill courses"),
        N_("courses"),
    ),
    Measure("streak", "streak_length", None, N_("Keep a streak going"), N_("weeks"), False),
    Measure(
        "challenges", "challenges_completed", None, N_("Complete challenges"), N_("challenges"),
        False,
    ),
    Measure(
        "testimonials", "testimonials_written", None, N_("Write testimonials"),
        N_("testimonials"),
    ),
    Measure(
        "first_moment", "first_informal_log", None, N_("Log a first learning moment"),
        N_("moments"),
    ),
)  # fmt: skip
MEASURE_BY_KEY = {m.key: m for m in MEASURES}

DEFAULT_TIERS = [("bronze", "1"), ("silver", "5"), ("gold", "10")]

FIELDS = (
    "name_nl",
    "name_en",
    "description_nl",
    "description_en",
    "measure",
    "competency_id",
    "starts_on",
    "ends_on",
    "shape",
    "colour",
    "icon",
    "emblem_source",
    "course_ids",
)


def measure_of(criterion: dict[str, Any], tiers: list[dict[str, Any]]) -> str:
    """The form's choice for a stored criterion (minutes shown as hours when they are)."""
    kind, event_kind = criterion.get("kind"), criterion.get("event_kind")
    if kind == "total_minutes":
        if event_kind is None and all(int(t.get("threshold", 1)) % 60 == 0 for t in tiers):
            return "hours"
        return "minutes"
    for m in MEASURES:
        if m.kind == kind and (m.event_kind == event_kind or m.kind != "event_count"):
            return m.key
    return "activities"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50].strip("-")
    return slug if len(slug) >= 2 else f"badge-{slug}".strip("-")


@dataclass
class Parsed:
    document: dict[str, Any]  # the BadgeCreate/BadgeUpdate fields the form decides
    design: EmblemDesignIn
    source: str


def parse_form(
    values: dict[str, str], tiers: list[tuple[str, str]]
) -> tuple[Parsed | None, dict[str, str]]:
    """The API document of a submitted form, or the translated errors per field."""
    errors: dict[str, str] = {}
    measure = MEASURE_BY_KEY.get(values.get("measure", ""))
    if measure is None:
        errors["measure"] = gettext(N_("Choose what the badge counts."))
        return None, errors
    parsed_tiers: list[dict[str, Any]] = []
    for name, threshold in tiers:
        if not name and not threshold:
            continue
        if not name:
            errors["tiers"] = gettext(N_("Give every tier a name."))
            break
        if not threshold.isdigit() or int(threshold) < 1:
            errors["tiers"] = gettext(N_("Give every tier a whole number of 1 or more."))
            break
        number = int(threshold) * (60 if measure.key == "hours" else 1)
        parsed_tiers.append({"name": name, "threshold": number})
    if "tiers" not in errors:
        if not parsed_tiers:
            errors["tiers"] = gettext(N_("Add at least one tier."))
        elif any(b["threshold"] <= a["threshold"] for a, b in pairwise(parsed_tiers)):
            errors["tiers"] = gettext(N_("Each tier needs a higher number than the one before."))
        elif len({t["name"] for t in parsed_tiers}) != len(parsed_tiers):
            errors["tiers"] = gettext(N_("Each tier needs its own name."))
    criterion: dict[str, Any] = {"kind": measure.kind, "event_kind": measure.event_kind}
    competency = values.get("competency_id", "")
    starts_on, ends_on = values.get("starts_on", ""), values.get("ends_on", "")
    if not measure.narrows and (competency or starts_on or ends_on):
        errors["measure"] = gettext(
            N_("A streak or challenge badge cannot be limited to a competency or period.")
        )
    if competency:
        if not competency.isdigit():
            errors["competency_id"] = gettext(N_("Choose one of the options."))
        else:
            criterion["competency_id"] = int(competency)
    for name, value in (("starts_on", starts_on), ("ends_on", ends_on)):
        if value:
            try:
                criterion[name] = date.fromisoformat(value).isoformat()
            except ValueError:
                errors[name] = gettext(N_("Enter a date."))
    dated = starts_on and ends_on and "starts_on" not in errors and "ends_on" not in errors
    if dated and ends_on < starts_on:
        errors["ends_on"] = gettext(N_("The period ends before it starts."))
    courses = [int(c) for c in values.get("course_ids", "").split(",") if c.strip().isdigit()]
    if courses and measure.narrows:
        criterion["course_ids"] = courses
    shape, colour, icon = values.get("shape"), values.get("colour"), values.get("icon")
    if shape not in SHAPES or colour not in COLOURS or icon not in ICONS:
        errors["emblem"] = gettext(N_("Choose a shape, a colour and an icon."))
    if errors:
        return None, errors
    document = {
        "name": values.get("name_nl", ""),
        "name_en": values.get("name_en", ""),
        "description": values.get("description_nl", ""),
        "description_en": values.get("description_en", ""),
        "criterion": criterion,
        "tiers": parsed_tiers,
        "competency_id": criterion.get("competency_id"),
    }
    design = EmblemDesignIn.model_validate({"shape": shape, "colour": colour, "icon": icon})
    return Parsed(document, design, values.get("emblem_source") or "generated"), errors


_ERROR_FIELDS = {
    "name": "name_nl",
    "code": "name_nl",
    "description": "description_nl",
    "criterion": "measure",
    "competency_id": "competency_id",
}


def _api_errors(error: ValidationError) -> dict[str, str]:
    return {_ERROR_FIELDS.get(k, k): v for k, v in form_errors(error).items()}


def _client_error(exc: ClientException) -> dict[str, str]:
    detail = str(exc.detail)
    if detail.startswith("criterion.competency_id") or detail.startswith("competency_id"):
        return {"competency_id": gettext(N_("Choose one of the options."))}
    if detail.startswith("criterion.ends_on"):
        return {"ends_on": gettext(N_("The period ends before it starts."))}
    if detail.startswith("criterion"):
        return {"measure": detail}
    if detail.startswith("tiers"):
        return {"tiers": gettext(N_("Each tier needs a higher number than the one before."))}
    if detail.startswith("image"):
        return {"upload": detail.partition(": ")[2]}
    return {"__all__": detail}


def _tiers_from(form: Any) -> list[tuple[str, str]]:
    return [
        (
            str(form.get(f"tier_name_{i}", "")).strip()[:20],
            str(form.get(f"tier_threshold_{i}", "")).strip()[:9],
        )
        for i in range(1, TIER_ROWS + 1)
    ]


def _padded(tiers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return (tiers + [("", "")] * TIER_ROWS)[:TIER_ROWS]


async def _choices(org: OrgScope) -> dict[str, Any]:
    competencies = await org.all(org.select(Competency).order_by(col(Competency.name)))
    organisation = await org.organisation()
    weekly = org_rules(organisation).streak.mode is StreakMode.WEEKLY
    measures = [
        (
            m.key,
            gettext(m.label),
            gettext(N_("weeks") if weekly else N_("days"))
            if m.key == "streak"
            else gettext(m.unit),
        )
        for m in MEASURES
    ]
    return {
        "measures": measures,
        "competencies": [(c.id, c.name) for c in competencies],
        "shapes": [(k, gettext(v)) for k, v in SHAPES.items()],
        "colours": [(k, gettext(v[0]), v[1]) for k, v in COLOURS.items()],
        "icons": [(k, gettext(v[0])) for k, v in ICONS.items()],
    }


def _emblem_query(values: dict[str, Any]) -> str:
    return f"shape={values.get('shape')}&colour={values.get('colour')}&icon={values.get('icon')}"


async def _preview(
    org: OrgScope, parsed: Parsed, locale: str
) -> tuple[BadgePreviewOut | None, dict[str, str]]:
    data = {
        key: parsed.document[key]
        for key in ("name", "name_en", "description", "description_en", "criterion", "tiers")
    }
    try:
        preview_in = BadgePreviewIn.model_validate(
            {**data, "emblem": parsed.design.model_dump(), "language": language_of(locale)}
        )
        return await services.preview_badge(org, preview_in), {}
    except ValidationError as exc:
        return None, _api_errors(exc)
    except ClientException as exc:
        return None, _client_error(exc)


class ConsoleBadgesController(ConsoleController):
    path = "/console/badges"

    async def _form_page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        *,
        row: BadgeDefinitionRow | None,
        values: dict[str, Any],
        tiers: list[tuple[str, str]],
        errors: dict[str, str],
        preview: BadgePreviewOut | None,
        status_code: int = 200,
    ) -> Template:
        locale = use_locale(request)
        stats = None
        upload = None
        if row is not None and row.id is not None:
            stats = await services.badge_stats(org, principal_of(request), row.id, locale=locale)
            emblem = await services.stored_emblem(org, row.id)
            upload = emblem if emblem is not None and emblem.source == "upload" else None
        if row is None:
            title = gettext(N_("New badge"))
        else:
            title = localized(row.name, row.name_en, language_of(locale))
        return console_page(
            request,
            "console/badges/form.html",
            {
                **await _choices(org),
                "row": row,
                "values": values,
                "tiers": _padded(tiers),
                "errors": errors,
                "preview": preview,
                "stats": stats,
                "upload": upload,
                "emblem_query": _emblem_query(values),
                "max_upload_kb": MAX_UPLOAD_BYTES // 1024,
                "lang_query": _lang_query(request),
            },
            section="badges",
            title=title,
            status_code=status_code,
        )

    @get("/", name="console:badges")
    async def list_badges(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        locale = use_locale(request)
        status = request.query_params.get("status") or "active"
        status = status if status in ("active", "inactive", "all") else "active"
        badges = await services.list_badges(
            org, principal_of(request), include_inactive=True, locale=locale
        )
        counts = {"active": 0, "inactive": 0, "all": len(badges)}
        for badge in badges:
            counts["active" if badge.is_active else "inactive"] += 1
        shown = [
            b
            for b in badges
            if status == "all" or (b.is_active if status == "active" else not b.is_active)
        ]
        earned = await services.earned_counts(org)
        return console_page(
            request,
            "console/badges/list.html",
            {
                "badges": shown,
                "status": status,
                "counts": counts,
                "earned": earned,
                "rewards": {
                    b.id: gettext(
                        MEASURE_BY_KEY[
                            measure_of(b.criterion, [t.model_dump() for t in b.tiers])
                        ].label
                    )
                    for b in shown
                },
            },
            section="badges",
            title=gettext(N_("Badges")),
        )

    @get("/new", name="console:badges:new")
    async def new_badge(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        locale = use_locale(request)
        values: dict[str, Any] = {
            "measure": "courses",
            "shape": "circle",
            "colour": "teal",
            "icon": "book",
            "emblem_source": "generated",
        }
        parsed, _ = parse_form(
            {k: str(v) for k, v in values.items()} | {"name_nl": "", "name_en": ""},
            DEFAULT_TIERS,
        )
        preview = None
        if parsed is not None:
            preview, _ = await _preview(org, parsed, locale)
        return await self._form_page(
            request, org, row=None, values=values, tiers=DEFAULT_TIERS, errors={}, preview=preview
        )

    @post("/new", name="console:badges:create")
    async def create_badge(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        locale = use_locale(request)
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name in FIELDS}
        tiers = _tiers_from(form)
        parsed, errors = parse_form(values, tiers)
        preview = None
        if parsed is not None:
            preview, errors = await _preview(org, parsed, locale)
        if parsed is None or errors or form.get("action") == "preview":
            return await self._form_page(
                request,
                org,
                row=None,
                values=values,
                tiers=tiers,
                errors=errors,
                preview=preview,
                status_code=400 if errors else 200,
            )
        code = await _free_code(org, values.get("name_en") or values.get("name_nl") or "badge")
        try:
            data = BadgeCreate.model_validate(
                {**parsed.document, "code": code, "emblem": parsed.design.model_dump()}
            )
            created = await services.create_badge(org, principal_of(request), data)
        except ValidationError as exc:
            errors = _api_errors(exc)
        except ClientException as exc:
            errors = _client_error(exc)
        if errors:
            return await self._form_page(
                request, org, row=None, values=values, tiers=tiers, errors=errors,
                preview=None, status_code=400,
            )  # fmt: skip
        flash(request, gettext(N_("Badge “%(name)s” created.")) % {"name": created.name})
        return redirect(f"/console/badges/{created.id}", **_lang(request))

    @get("/{badge_id:int}", name="console:badges:edit")
    async def edit_badge(
        self, request: Request[Any, Any, Any], org: OrgScope, badge_id: int
    ) -> Template:
        locale = use_locale(request)
        row = await org.get(BadgeDefinitionRow, badge_id, what="badge")
        values, tiers = await _stored_values(org, row)
        parsed, _ = parse_form({k: str(v) for k, v in values.items()}, tiers)
        preview = None
        if parsed is not None:
            preview, _ = await _preview(org, parsed, locale)
        return await self._form_page(
            request, org, row=row, values=values, tiers=tiers, errors={}, preview=preview
        )

    @post("/{badge_id:int}", name="console:badges:update")
    async def update_badge(
        self, request: Request[Any, Any, Any], org: OrgScope, badge_id: int
    ) -> Template | Redirect:
        locale = use_locale(request)
        row = await org.get(BadgeDefinitionRow, badge_id, what="badge")
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name in FIELDS}
        tiers = _tiers_from(form)
        parsed, errors = parse_form(values, tiers)
        preview = None
        if parsed is not None:
            preview, errors = await _preview(org, parsed, locale)
        if parsed is None or errors or form.get("action") == "preview":
            return await self._form_page(
                request, org, row=row, values=values, tiers=tiers, errors=errors,
                preview=preview, status_code=400 if errors else 200,
            )  # fmt: skip
        principal = principal_of(request)
        try:
            data = BadgeUpdate.model_validate(parsed.document)
            await services.update_badge(org, principal, badge_id, data)
            current = await services.stored_emblem(org, badge_id)
            wanted = parsed.design
            keep_upload = (
                parsed.source == "upload" and current is not None and current.source == "upload"
            )
            if not keep_upload and (
                current is None
                or current.source != "generated"
                or (current.shape, current.colour, current.icon)
                != (wanted.shape, wanted.colour, wanted.icon)
            ):
                await services.design_emblem(org, principal, badge_id, wanted)
        except ValidationError as exc:
            errors = _api_errors(exc)
        except ClientException as exc:
            errors = _client_error(exc)
        if errors:
            await org.session.rollback()
            row = await org.get(BadgeDefinitionRow, badge_id, what="badge")
            return await self._form_page(
                request, org, row=row, values=values, tiers=tiers, errors=errors,
                preview=None, status_code=400,
            )  # fmt: skip
        flash(request, gettext(N_("Badge saved.")))
        return redirect(f"/console/badges/{badge_id}", **_lang(request))

    @post("/{badge_id:int}/emblem", name="console:badges:emblem")
    async def upload_emblem(
        self, request: Request[Any, Any, Any], org: OrgScope, badge_id: int
    ) -> Template | Redirect:
        use_locale(request)
        row = await org.get(BadgeDefinitionRow, badge_id, what="badge")
        form = await request.form()
        upload = form.get("file")
        raw, filename = b"", ""
        if isinstance(upload, UploadFile):
            raw = await upload.read(MAX_UPLOAD_BYTES + 1)
            filename = upload.filename or ""
        try:
            await services.upload_emblem(org, principal_of(request), badge_id, raw, filename)
        except ClientException as exc:
            message = _client_error(exc).get("upload") or str(exc.detail)
            values, tiers = await _stored_values(org, row)
            return await self._form_page(
                request, org, row=row, values=values, tiers=tiers,
                errors={"upload": gettext(message)}, preview=None, status_code=400,
            )  # fmt: skip
        flash(request, gettext(N_("Emblem uploaded.")))
        return redirect(f"/console/badges/{badge_id}", **_lang(request))

    @post("/{badge_id:int}/deactivate", name="console:badges:deactivate")
    async def deactivate(
        self, request: Request[Any, Any, Any], org: OrgScope, badge_id: int
    ) -> Redirect:
        use_locale(request)
        badge = await services.set_active(org, principal_of(request), badge_id, False)
        flash(
            request,
            gettext(N_("“%(name)s” is deactivated: learners no longer see or earn it."))
            % {"name": badge.name},
        )
        return redirect(f"/console/badges/{badge_id}", **_lang(request))

    @post("/{badge_id:int}/reactivate", name="console:badges:reactivate")
    async def reactivate(
        self, request: Request[Any, Any, Any], org: OrgScope, badge_id: int
    ) -> Redirect:
        use_locale(request)
        badge = await services.set_active(org, principal_of(request), badge_id, True)
        flash(request, gettext(N_("“%(name)s” is active again.")) % {"name": badge.name})
        return redirect(f"/console/badges/{badge_id}", **_lang(request))

    @get("/emblem.svg", name="console:badges:emblem-preview")
    async def emblem_preview(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """A generated emblem for the designer's preview (JS swaps it as choices change)."""
        params = request.query_params
        design = EmblemDesign(
            str(params.get("shape") or "circle"),
            str(params.get("colour") or "teal"),
            str(params.get("icon") or "star"),
        )
        return Response(
            render_emblem(design),
            media_type=SVG_MEDIA_TYPE,
            headers={
                "Content-Security-Policy": SVG_CSP,
                "Cache-Control": "private, max-age=3600",
                "X-Content-Type-Options": "nosniff",
            },
        )


def _lang(request: Request[Any, Any, Any]) -> dict[str, str]:
    lang = request.query_params.get("lang")
    return {"lang": lang} if lang in ("nl", "en") else {}


def _lang_query(request: Request[Any, Any, Any]) -> str:
    lang = _lang(request)
    return f"?lang={lang['lang']}" if lang else ""


async def _free_code(org: OrgScope, name: str) -> str:
    base = _slug(name)
    rows = await org.all(
        org.select(BadgeDefinitionRow).where(col(BadgeDefinitionRow.code).startswith(base))
    )
    taken = {r.code for r in rows}
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def _stored_values(
    org: OrgScope, row: BadgeDefinitionRow
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    criterion, tiers = dict(row.criterion or {}), list(row.tiers or [])
    measure = measure_of(criterion, tiers)
    per = 60 if measure == "hours" else 1
    assert row.id is not None
    emblem = await services.stored_emblem(org, row.id)
    design = (
        EmblemDesign(emblem.shape, emblem.colour, emblem.icon)
        if emblem is not None
        else default_design(row.code, str(criterion.get("kind", "")))
    )
    values = {
        "name_nl": row.name,
        "name_en": row.name_en,
        "description_nl": row.description,
        "description_en": row.description_en,
        "measure": measure,
        "competency_id": criterion.get("competency_id") or "",
        "starts_on": criterion.get("starts_on") or "",
        "ends_on": criterion.get("ends_on") or "",
        "shape": design.shape,
        "colour": design.colour,
        "icon": design.icon,
        "emblem_source": emblem.source if emblem is not None else "generated",
        "course_ids": ",".join(str(c) for c in criterion.get("course_ids") or []),
    }
    return values, [(str(t["name"]), str(int(t["threshold"]) // per)) for t in tiers]


CONTROLLERS = [ConsoleBadgesController]
