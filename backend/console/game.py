"""Console: game design. Streak policy, XP per kind of learning, seasons and the level curve.

One form over the same services as ``/api/v1/game-rules`` (backend/organisations/game_rules.py):
"Preview" posts it to ``/console/game/preview``, which shows what the rules would do today on
the organisation's own data without saving; "Save" stores them from the chosen moment (with
an audit entry). Form fields are flat (``informal_xp``, ``season-0-multiplier``) and are
turned into the API's document before the one schema validates them.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import ValidationError

from backend.console.shell import (
    _PYDANTIC_MESSAGES,
    ConsoleController,
    console_page,
    flash,
    redirect,
    use_locale,
)
from backend.db.types import utcnow
from backend.organisations import game_rules as service
from backend.organisations.settings import MAX_SEASONS, GameRules
from backend.tenancy import OrgScope
from pwa.i18n import N_, gettext

PATH = "/console/game"
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]

STREAK_FIELDS = (
    "days_per_week",
    "freeze_every_days",
    "freeze_every_weeks",
    "max_banked_freezes",
    "repair_window_days",
)
XP_FIELDS = (
    "completion_base",
    "completion_xp_per_minute",
    "completion_minutes_cap",
    "progress_xp_per_minute",
    "progress_minutes_cap",
    "experience_xp",
    "informal_xp",
    "informal_daily_cap",
    "informal_cooldown_minutes",
    "testimonial_xp",
    "goal_reached_xp",
    "challenge_completed_xp",
    "hot_skill_multiplier",
)
SEASON_FIELDS = ("name", "starts_on", "ends_on", "multiplier")
EXTRA_SEASON_ROWS = 1

FIELD_LABELS = {
    "streak.mode": N_("Streak"),
    "streak.days_per_week": N_("Active days a week"),
    "streak.freeze_every_days": N_("A freeze every (days)"),
    "streak.freeze_every_weeks": N_("A freeze every (weeks)"),
    "streak.max_banked_freezes": N_("Freezes to keep"),
    "streak.repair_window_days": N_("Repair window"),
    "xp.completion_base": N_("Course completion"),
    "xp.completion_xp_per_minute": N_("Course completion"),
    "xp.completion_minutes_cap": N_("Course completion"),
    "xp.progress_xp_per_minute": N_("Progress"),
    "xp.progress_minutes_cap": N_("Progress"),
    "xp.experience_xp": N_("Learning on the job"),
    "xp.informal_xp": N_("Learning moment"),
    "xp.informal_daily_cap": N_("Learning moment"),
    "xp.informal_cooldown_minutes": N_("Learning moment"),
    "xp.testimonial_xp": N_("Testimonial"),
    "xp.goal_reached_xp": N_("Goal reached"),
    "xp.challenge_completed_xp": N_("Challenge completed"),
    "xp.hot_skill_multiplier": N_("Hot skills"),
    "xp.seasons": N_("Double-XP seasons"),
    "levels.step_xp": N_("Level curve"),
}


@dataclass
class ParsedForm:
    document: dict[str, Any]
    season_rows: list[int]  # the form row of each season in the document
    effective_from: date | None
    errors: dict[str, str]


def _field_name(loc: tuple[Any, ...], season_rows: list[int]) -> str:
    if loc[:1] == ("streak",) and loc[1:2] == ("mode",):
        return "streak_mode"
    if loc[:2] == ("xp", "seasons") and len(loc) >= 4 and isinstance(loc[2], int):
        row = season_rows[loc[2]] if loc[2] < len(season_rows) else loc[2]
        return f"season-{row}-{loc[3]}"
    return str(loc[1]) if len(loc) > 1 else str(loc[0])


def _errors(exc: ValidationError, season_rows: list[int]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in exc.errors():
        name = _field_name(tuple(problem["loc"]), season_rows)
        if name in errors:
            continue
        if problem["type"] == "value_error":
            errors[name] = gettext(str(problem.get("ctx", {}).get("error", problem["msg"])))
        else:
            message = _PYDANTIC_MESSAGES.get(problem["type"], N_("This value is not valid."))
            errors[name] = gettext(message)
    return errors


def season_row_count(form: dict[str, str]) -> int:
    raw = form.get("season_rows", "")
    count = int(raw) if raw.isdigit() else 0
    return min(count, MAX_SEASONS + EXTRA_SEASON_ROWS)


def parse_form(form: dict[str, str]) -> ParsedForm:
    """The API document the form describes, and the problems only the form can have."""
    errors: dict[str, str] = {}
    streak: dict[str, Any] = {"mode": form.get("streak_mode", "")}
    streak.update({name: form.get(name, "").strip() for name in STREAK_FIELDS})
    xp: dict[str, Any] = {name: form.get(name, "").strip().replace(",", ".") for name in XP_FIELDS}
    seasons: list[dict[str, str]] = []
    rows: list[int] = []
    for row in range(season_row_count(form)):
        values = {f: form.get(f"season-{row}-{f}", "").strip() for f in SEASON_FIELDS}
        values["multiplier"] = values["multiplier"].replace(",", ".")
        if form.get(f"season-{row}-remove") or not (
            values["name"] or values["starts_on"] or values["ends_on"]
        ):
            continue  # removed, or the empty row for a new season
        seasons.append(values)
        rows.append(row)
    xp["seasons"] = seasons
    document = {"streak": streak, "xp": xp, "levels": {"step_xp": form.get("step_xp", "").strip()}}
    effective_from: date | None = None
    if form.get("applies") == "day":
        try:
            effective_from = date.fromisoformat(form.get("effective_from", "").strip())
        except ValueError:
            errors["effective_from"] = gettext(N_("Enter a date."))
    return ParsedForm(document, rows, effective_from, errors)


def form_from_rules(rules: GameRules) -> dict[str, Any]:
    """The form's values for ``rules``."""
    values: dict[str, Any] = {"streak_mode": rules.streak.mode, "applies": "now"}
    values.update({name: getattr(rules.streak, name) for name in STREAK_FIELDS})
    values.update({name: getattr(rules.xp, name) for name in XP_FIELDS})
    values["step_xp"] = rules.levels.step_xp
    for row, season in enumerate(rules.xp.seasons):
        values[f"season-{row}-name"] = season.name
        values[f"season-{row}-starts_on"] = season.starts_on.isoformat()
        values[f"season-{row}-ends_on"] = season.ends_on.isoformat()
        values[f"season-{row}-multiplier"] = season.multiplier
    values["season_rows"] = len(rules.xp.seasons) + EXTRA_SEASON_ROWS
    return values


# --- what the page shows --------------------------------------------------------------------


def _day(moment: datetime, timezone: str, locale: str) -> str:
    return format_date(moment.astimezone(ZoneInfo(timezone)).date(), "EEEE d MMMM y", locale)


def _moment(moment: datetime, timezone: str, locale: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    if local.hour == 0 and local.minute == 0:
        return format_date(local.date(), "EEEE d MMMM y", locale)
    return format_datetime(local, "EEEE d MMMM y, HH:mm", locale=locale)


@dataclass(frozen=True)
class Chart:
    """The level curve as an inline SVG's polylines (viewBox 0 0 WIDTH HEIGHT)."""

    now: str
    new: str
    max_xp: int
    levels: int
    differs: bool


WIDTH, HEIGHT, PAD = 320, 160, 8


def level_chart(rows: list[service.LevelRow], levels: int = 12) -> Chart:
    shown = rows[:levels]
    top = max([1, *(r.xp_now for r in shown), *(r.xp_new for r in shown)])
    span = max(1, len(shown) - 1)

    def points(values: list[int]) -> str:
        return " ".join(
            f"{PAD + i * (WIDTH - 2 * PAD) / span:.1f},"
            f"{HEIGHT - PAD - v * (HEIGHT - 2 * PAD) / top:.1f}"
            for i, v in enumerate(values)
        )

    return Chart(
        now=points([r.xp_now for r in shown]),
        new=points([r.xp_new for r in shown]),
        max_xp=top,
        levels=len(shown),
        differs=any(r.xp_now != r.xp_new for r in shown),
    )


EXAMPLE_LABELS = {
    "completion": N_("A course completion (%(minutes)s min)"),
    "progress": N_("Progress: %(minutes)s minutes"),
    "experience": N_("Learning on the job"),
    "informal": N_("A learning moment"),
    "informal_day": N_("Learning moments, most a day"),
    "testimonial": N_("A testimonial"),
    "goal": N_("A goal reached"),
    "challenge": N_("A challenge completed"),
}


async def _page(
    request: Request[Any, Any, Any],
    org: OrgScope,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    proposed: GameRules | None = None,
    plan: service.RulesChange | None = None,
    status_code: int = 200,
) -> Template:
    locale = use_locale(request)
    now = utcnow()
    view = await service.get_game_rules(org, now)
    tz = view.timezone
    preview = await service.preview_game_rules(org, proposed or view.rules, now)
    values = values if values is not None else form_from_rules(view.newest)
    season_rows = season_row_count({"season_rows": str(values.get("season_rows", ""))})
    examples = [
        (
            gettext(EXAMPLE_LABELS[x.kind]) % {"minutes": x.minutes},
            x.now,
            x.new,
        )
        for x in preview.xp_examples
    ]
    changed_labels = (
        sorted({gettext(FIELD_LABELS.get(name, name)) for name in plan.changed}) if plan else []
    )
    return console_page(
        request,
        "console/game/rules.html",
        {
            "values": values,
            "errors": errors or {},
            "season_rows": season_rows,
            "max_seasons": MAX_SEASONS,
            "view": view,
            "since": _moment(view.since, tz, locale) if view.since else None,
            "upcoming": [
                (_moment(v.starts_at, tz, locale), v) for v in view.upcoming if v.starts_at
            ],
            "preview": preview,
            "previewed": proposed is not None,
            "plan": plan,
            "applies_from": _moment(plan.effective_from, tz, locale) if plan else None,
            "changed_labels": changed_labels,
            "examples": examples,
            "chart": level_chart(preview.level_rows),
            "level_table": preview.level_rows[:12],
            "today": format_date(now.astimezone(ZoneInfo(tz)).date(), "yyyy-MM-dd", "en"),
            "next_monday": _day(
                service.effective_moment(None, now, tz, streak_changed=True), tz, locale
            ),
            "timezone": tz,
        },
        section="game",
        title=gettext(N_("Game design")),
        status_code=status_code,
    )


async def _read(
    org: OrgScope, form: dict[str, str]
) -> tuple[GameRules | None, ParsedForm, dict[str, str]]:
    """The proposed rules (None when the form has errors) and the errors per field."""
    parsed = parse_form(form)
    errors = dict(parsed.errors)
    try:
        rules = GameRules.model_validate(parsed.document)
    except ValidationError as exc:
        errors = {**_errors(exc, parsed.season_rows), **errors}
        return None, parsed, errors
    return (None if errors else rules), parsed, errors


def _service_errors(exc: ValidationException) -> dict[str, str]:
    """A service's 400 (e.g. a day in the past) as messages per form field."""
    messages = {
        "choose today or a later day": N_("Choose today or a later day."),
        "choose a day within a year": N_("Choose a day within a year."),
    }
    errors: dict[str, str] = {}
    for item in exc.extra if isinstance(exc.extra, list) else []:
        key = str(item.get("key", "")).split(".")[-1]
        errors[key] = gettext(
            messages.get(str(item.get("message")), N_("This value is not valid."))
        )
    return errors


class GameConsoleController(ConsoleController):
    path = PATH

    @get("/", name="console:game")
    async def rules(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        return await _page(request, org)

    @post("/preview", name="console:game-preview", status_code=200)
    async def preview(self, request: Request[Any, Any, Any], org: OrgScope, data: Form) -> Template:
        use_locale(request)
        rules, parsed, errors = await _read(org, data)
        if rules is None:
            return await _page(request, org, values=data, errors=errors, status_code=400)
        try:
            plan = await service.plan_for(org, rules, parsed.effective_from)
        except ValidationException as exc:
            return await _page(
                request, org, values=data, errors=_service_errors(exc), status_code=400
            )
        return await _page(request, org, values=data, proposed=rules, plan=plan)

    @post("/", name="console:game-save", status_code=303)
    async def save(
        self, request: Request[Any, Any, Any], org: OrgScope, data: Form
    ) -> Template | Redirect:
        locale = use_locale(request)
        rules, parsed, errors = await _read(org, data)
        if rules is None:
            return await _page(request, org, values=data, errors=errors, status_code=400)
        try:
            change = await service.change_game_rules(org, rules, parsed.effective_from)
        except ValidationException as exc:
            return await _page(
                request, org, values=data, errors=_service_errors(exc), status_code=400
            )
        if change.is_noop:
            flash(request, gettext(N_("Nothing changed: these are the rules in force.")))
        else:
            tz = (await org.organisation()).default_timezone
            flash(
                request,
                gettext(N_("Saved. The new rules apply to learning from %(moment)s."))
                % {"moment": _moment(change.effective_from, tz, locale)},
            )
        return redirect(PATH)


# the JSON API for the same rules is served with the console's routes (no shared file edited)
CONTROLLERS = [GameConsoleController]
