"""Console pages: nudge governance (quiet hours, weekends, caps, kinds on) and the text
variants per kind and language with what each one achieved; a preview to one's own phone."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from babel.dates import format_date
from litestar import Request, get, post
from litestar.exceptions import ClientException, ValidationException
from litestar.response import Redirect, Template
from pydantic import ValidationError

from backend.console.shell import (
    ConsoleController,
    console_page,
    flash,
    form_errors,
    form_values,
    redirect,
    use_locale,
)
from backend.db.types import utcnow
from backend.nudges import governance
from backend.nudges.schemas import (
    NudgeRulesPublic,
    NudgeRulesUpdate,
    NudgeVariantCreate,
    NudgeVariantMeasured,
    NudgeVariantPublic,
    NudgeVariantUpdate,
)
from backend.tenancy import OrgScope
from gamification.nudge_texts import (
    BODY_MAX,
    BODY_PUSH_FRIENDLY,
    LOCALES,
    PLACEHOLDERS,
    SAMPLE_PARAMS,
    TITLE_MAX,
    TITLE_PUSH_FRIENDLY,
    render,
)
from pwa.i18n import N_, current_locale, gettext

BASE = "/console/nudges"
TEXTS = BASE + "/texts"
PERIODS = (7, 30, 90)

# what each kind is, for L&D (kind -> (name, when it is sent))
KINDS: Mapping[str, tuple[str, str]] = {
    "welcome": (N_("Welcome"), N_("Before a new colleague's first day.")),
    "reminder": (N_("Daily reminder"), N_("At the learner's usual time, if nothing learned yet.")),
    "streak_at_risk": (
        N_("Streak at risk"),
        N_("When a streak would break without learning soon."),
    ),
    "goal_behind": (N_("Weekly goal behind"), N_("Midweek, when the weekly goal is out of pace.")),
    "dated_goal_behind": (
        N_("Goal with a date behind"),
        N_("When a goal with a date falls behind its pace, at most every four days."),
    ),
    "goal_reached": (N_("Weekly goal reached"), N_("When the learner reaches their weekly goal.")),
    "challenge_launched": (N_("Challenge started"), N_("When a challenge they can join begins.")),
    "challenge_ending": (N_("Challenge ending"), N_("The day before a challenge ends.")),
    "team_milestone": (N_("Team milestone"), N_("When a team challenge is half done or done.")),
    "badge_earned": (N_("Badge earned"), N_("When the learner earns a badge.")),
    "level_up": (N_("Level up"), N_("When the learner reaches a new level.")),
    "streak_milestone": (N_("Streak milestone"), N_("When a streak reaches a milestone.")),
    "kudos_received": (N_("Kudos received"), N_("When a colleague sends kudos.")),
    "budget_reminder": (N_("Learning budget"), N_("Once a month, while budget is left.")),
    "budget_decision": (
        N_("Budget decision"),
        N_("When a budget request is approved or declined."),
    ),
    "new_course": (N_("New hot-skill course"), N_("When a course in a hot skill is added.")),
    "testimonial_request": (
        N_("Review request"),
        N_("After a completed course, asking for a few words."),
    ),
    "next_step": (
        N_("Your next step"),
        N_("After three days without learning, at most weekly: their top recommendation."),
    ),
}
LANGUAGES = {"nl": N_("Dutch"), "en": N_("English")}
ORIGINS = {"built_in": N_("Built-in"), "edited": N_("Edited"), "custom": N_("Added")}

_MESSAGES = {
    "no device": N_(
        "You have no device with notifications on yet. Open learnloop on your phone, "
        "go to Settings and turn on notifications, then try again."
    ),
    "last": N_(
        "This is the last text of this kind in this language. Add another text first, "
        "or switch the kind off in the rules."
    ),
    "only a built-in": N_("Only a built-in text can be reset; retire this one instead."),
}


def kind_name(kind: str) -> str:
    return gettext(KINDS[kind][0])


def _translated(message: str) -> str:
    """A service's English 409 as the console says it."""
    for marker, text in _MESSAGES.items():
        if marker in message:
            return gettext(text)
    return message


def _placeholder_message(message: str) -> str:
    """A placeholder problem (English, from the schema) in the page's language."""
    if message.startswith("unknown placeholder"):
        name = message.split()[2].rstrip(";")
        known = message.split(": ", 1)[1] if ": " in message else ""
        return gettext(N_("%(name)s is not a placeholder of this kind. You can use: %(known)s")) % {
            "name": name,
            "known": gettext(N_("none")) if known == "none" else known,
        }
    if "on its own" in message:
        return gettext(N_("A { or } on its own: write {{ or }} to show a brace."))
    if "plain name" in message:
        return gettext(N_("A placeholder is a plain name in braces, like {course}."))
    return message


def _errors(exc: ValidationError) -> dict[str, str]:
    errors = form_errors(exc)
    return {name: _placeholder_message(text) for name, text in errors.items()}


def _service_errors(exc: ValidationException) -> dict[str, str]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    return {
        str(item.get("key")): _placeholder_message(str(item.get("message")))
        for item in extra
        if isinstance(item, dict)
    }


def _hour_options() -> list[tuple[int, str]]:
    return [(hour, f"{hour:02d}:00") for hour in range(24)]


def _preview(kind: str, locale: str, title: str, body: str, organisation: str) -> dict[str, str]:
    params = dict(SAMPLE_PARAMS[kind])
    if "organisation" in params:
        params["organisation"] = organisation
    try:
        text = render(kind, "x", locale, params, {kind: {locale: {"x": (title, body)}}})
    except (ValueError, KeyError, AttributeError, IndexError):
        return {"title": title, "body": body}
    return {"title": text.title, "body": text.body}


def _examples(kind: str, locale: str) -> dict[str, str]:
    """What each placeholder of ``kind`` reads like, with the preview's example values."""
    params = dict(SAMPLE_PARAMS[kind])
    if "organisation" in params:
        params["organisation"] = "learnloop"
    return {
        name: render(
            kind, "x", locale, params, {kind: {locale: {"x": ("{" + name + "}", "")}}}
        ).title
        for name in PLACEHOLDERS[kind]
    }


def _text_form_context(kind: str, locale: str = "nl") -> dict[str, Any]:
    return {
        "examples": _examples(kind, locale if locale in LOCALES else "nl"),
        "title_max": TITLE_MAX,
        "body_max": BODY_MAX,
        "title_friendly": TITLE_PUSH_FRIENDLY,
        "body_friendly": BODY_PUSH_FRIENDLY,
        "placeholders": PLACEHOLDERS.get(kind, ()),
        "all_placeholders": {k: PLACEHOLDERS[k] for k in KINDS},
    }


class ConsoleNudgesController(ConsoleController):
    path = BASE

    # --- rules -------------------------------------------------------------------------------

    async def _rules_page(
        self,
        request: Request[Any, Any, Any],
        rules: NudgeRulesPublic,
        values: Mapping[str, Any] | None = None,
        errors: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        off = {k.kind.value for k in rules.kinds if not k.on}
        shown: dict[str, Any] = (
            dict(values)
            if values is not None
            else {
                "quiet_hours_start": rules.quiet_hours_start,
                "quiet_hours_end": rules.quiet_hours_end,
                "nudges_on_weekends": rules.nudges_on_weekends,
                "nudge_reminders_per_day": rules.nudge_reminders_per_day,
                "nudges_per_week": rules.nudges_per_week,
            }
        )
        kinds_on = shown.pop("_kinds_on", None)
        return console_page(
            request,
            "console/nudges/rules.html",
            {
                "values": shown,
                "errors": errors or {},
                "hours": _hour_options(),
                "kinds": [
                    {
                        "kind": kind,
                        "name": gettext(name),
                        "when": gettext(when),
                        "on": kind in kinds_on if kinds_on is not None else kind not in off,
                    }
                    for kind, (name, when) in KINDS.items()
                ],
                "kinds_on_count": sum(k.on for k in rules.kinds),
                "tab": "rules",
            },
            section="nudges",
            title=gettext(N_("Nudges")),
            status_code=status_code,
        )

    @get("/", name="console:nudges")
    async def rules(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        use_locale(request)
        return await self._rules_page(request, await governance.get_rules(org))

    @post("/", name="console:nudges:save")
    async def save_rules(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        form = await request.form()
        kinds_on = set(form.getall("kind_on")) if "kind_on" in form else set()
        names = (
            "quiet_hours_start",
            "quiet_hours_end",
            "nudge_reminders_per_day",
            "nudges_per_week",
        )
        values = form_values(form, names)
        values["nudges_on_weekends"] = form.get("nudges_on_weekends") in ("1", "on", "true")
        try:
            data = NudgeRulesUpdate.model_validate(
                {
                    **{k: v for k, v in values.items() if v != ""},
                    "kinds_off": [k for k in KINDS if k not in kinds_on],
                }
            )
        except ValidationError as exc:
            return await self._rules_page(
                request,
                await governance.get_rules(org),
                {**values, "_kinds_on": kinds_on},
                form_errors(exc),
                400,
            )
        await governance.update_rules(org, data)
        flash(request, gettext(N_("Nudge rules saved. They apply from the next round.")))
        return redirect(BASE)

    # --- texts -------------------------------------------------------------------------------

    @get("/texts", name="console:nudges:texts")
    async def texts(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        use_locale(request)
        params = request.query_params
        kind = params.get("kind") or ""
        kind = kind if kind in KINDS else ""
        locale = params.get("lang_filter") or ""
        locale = locale if locale in LOCALES else ""
        days_text = params.get("days") or "30"
        days = int(days_text) if days_text.isdigit() and int(days_text) in PERIODS else 30
        today = utcnow().date()
        listed = await governance.measured_variants(
            org,
            today - timedelta(days=days - 1),
            today,
            kind=kind or None,
            locale=locale or None,
        )
        rules = await governance.get_rules(org)
        on = {k.kind.value: k.on for k in rules.kinds}
        groups: list[dict[str, Any]] = []
        for variant in listed.variants:
            key = variant.kind.value
            if not groups or groups[-1]["kind"] != key:
                groups.append(
                    {
                        "kind": key,
                        "name": kind_name(key),
                        "when": gettext(KINDS[key][1]),
                        "on": on.get(key, True),
                        "rows": [],
                    }
                )
            groups[-1]["rows"].append(variant)
        for group in groups:
            rows = group["rows"]
            group["active"] = sum(not v.retired for v in rows)
            group["sent"] = sum(v.measured.sent for v in rows)
            group["opened"] = sum(v.measured.opened for v in rows)
            group["learned"] = sum(v.measured.learned_within_24h for v in rows)
        totals = {
            "sent": sum(v.measured.sent for v in listed.variants),
            "opened": sum(v.measured.opened for v in listed.variants),
            "learned": sum(v.measured.learned_within_24h for v in listed.variants),
        }
        return console_page(
            request,
            "console/nudges/texts.html",
            {
                "groups": groups,
                "kind": kind,
                "lang_filter": locale,
                "days": days,
                "periods": PERIODS,
                "since_text": format_date(listed.since, "d MMM yyyy", locale=current_locale()),
                "until_text": format_date(listed.until, "d MMM yyyy", locale=current_locale()),
                "kinds": [(k, gettext(name)) for k, (name, _) in KINDS.items()],
                "languages": [(lo, gettext(LANGUAGES[lo])) for lo in LOCALES],
                "language_names": {lo: gettext(LANGUAGES[lo]) for lo in LOCALES},
                "origins": {k: gettext(v) for k, v in ORIGINS.items()},
                "totals": totals,
                "tab": "texts",
            },
            section="nudges",
            title=gettext(N_("Nudge texts")),
        )

    def _new_page(
        self,
        request: Request[Any, Any, Any],
        values: Mapping[str, Any],
        errors: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        kind = str(values.get("kind") or "reminder")
        return console_page(
            request,
            "console/nudges/new.html",
            {
                "values": values,
                "errors": errors or {},
                "kinds": [(k, gettext(name)) for k, (name, _) in KINDS.items()],
                "languages": [(lo, gettext(LANGUAGES[lo])) for lo in LOCALES],
                "kind_name": kind_name(kind) if kind in KINDS else "",
                **_text_form_context(
                    kind if kind in KINDS else "reminder", str(values.get("locale") or "nl")
                ),
            },
            section="nudges",
            title=gettext(N_("Add a nudge text")),
            status_code=status_code,
        )

    @get("/texts/new", name="console:nudges:new")
    async def new_text(self, request: Request[Any, Any, Any]) -> Template:
        locale = use_locale(request)
        params = request.query_params
        kind = params.get("kind") if params.get("kind") in KINDS else "reminder"
        lang = params.get("lang_filter") if params.get("lang_filter") in LOCALES else locale
        return self._new_page(request, {"kind": kind, "locale": lang, "title": "", "body": ""})

    @post("/texts", name="console:nudges:create")
    async def create_text(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        form = await request.form()
        values = form_values(form, ("kind", "locale", "title", "body"))
        try:
            data = NudgeVariantCreate.model_validate(values)
            created = await governance.create_variant(org, data)
        except ValidationError as exc:
            return self._new_page(request, values, _errors(exc), 400)
        except ValidationException as exc:
            return self._new_page(request, values, _service_errors(exc), 400)
        flash(
            request,
            gettext(N_("Text added. It is sent beside the others from the next round.")),
        )
        return redirect(_variant_url(created))

    # --- one variant -------------------------------------------------------------------------

    async def _variant_page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        variant: NudgeVariantPublic,
        values: Mapping[str, Any] | None = None,
        errors: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        kind, locale = variant.kind.value, variant.locale
        today = utcnow().date()
        listed = await governance.measured_variants(
            org, today - timedelta(days=29), today, kind=kind, locale=locale
        )
        measured: NudgeVariantMeasured = next(
            v for v in listed.variants if v.variant == variant.variant
        )
        organisation = (await org.organisation()).name
        shown = values or {"title": variant.title, "body": variant.body}
        return console_page(
            request,
            "console/nudges/variant.html",
            {
                "variant": variant,
                "measured": measured.measured,
                "values": shown,
                "errors": errors or {},
                "kind_name": kind_name(kind),
                "kind_when": gettext(KINDS[kind][1]),
                "language": gettext(LANGUAGES[locale]),
                "origin": gettext(ORIGINS[variant.origin]),
                "url": _variant_url(variant),
                "preview": _preview(
                    kind, locale, str(shown["title"]), str(shown["body"]), organisation
                ),
                **_text_form_context(kind, locale),
            },
            section="nudges",
            title=f"{kind_name(kind)} · {variant.variant}",
            status_code=status_code,
        )

    @get("/texts/{kind:str}/{locale:str}/{variant:str}", name="console:nudges:variant")
    async def variant(
        self, request: Request[Any, Any, Any], org: OrgScope, kind: str, locale: str, variant: str
    ) -> Template:
        use_locale(request)
        found = await governance.get_variant(org, kind, locale, variant)
        return await self._variant_page(request, org, found)

    @post("/texts/{kind:str}/{locale:str}/{variant:str}", name="console:nudges:save-variant")
    async def save_variant(
        self, request: Request[Any, Any, Any], org: OrgScope, kind: str, locale: str, variant: str
    ) -> Template | Redirect:
        use_locale(request)
        found = await governance.get_variant(org, kind, locale, variant)
        form = await request.form()
        values = form_values(form, ("title", "body"))
        try:
            data = NudgeVariantUpdate.model_validate(values, context={"kind": kind})
            await governance.update_variant(org, kind, locale, variant, data)
        except ValidationError as exc:
            return await self._variant_page(request, org, found, values, _errors(exc), 400)
        except ValidationException as exc:
            return await self._variant_page(request, org, found, values, _service_errors(exc), 400)
        flash(request, gettext(N_("Text saved.")))
        return redirect(_variant_url(found))

    async def _act(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        kind: str,
        locale: str,
        variant: str,
        action: str,
    ) -> Redirect:
        use_locale(request)
        found = await governance.get_variant(org, kind, locale, variant)
        try:
            if action == "retire":
                await governance.retire_variant(org, kind, locale, variant)
                message = gettext(N_("Text retired: it is no longer sent."))
            elif action == "restore":
                await governance.restore_variant(org, kind, locale, variant)
                message = gettext(N_("Text restored: it is sent again."))
            elif action == "reset":
                await governance.reset_variant(org, kind, locale, variant)
                message = gettext(N_("Text back to its default."))
            else:
                sent = await governance.send_to_me(org, kind, locale, variant)
                message = gettext(
                    N_("On its way to your devices (%(num)d). It arrives within a minute.")
                ) % {"num": sent.devices}
        except ClientException as exc:
            flash(request, _translated(str(exc.detail)), "error")
            return redirect(_variant_url(found))
        flash(request, message)
        return redirect(_variant_url(found))

    @post("/texts/{kind:str}/{locale:str}/{variant:str}/retire", name="console:nudges:retire")
    async def retire(
        self, request: Request[Any, Any, Any], org: OrgScope, kind: str, locale: str, variant: str
    ) -> Redirect:
        return await self._act(request, org, kind, locale, variant, "retire")

    @post("/texts/{kind:str}/{locale:str}/{variant:str}/restore", name="console:nudges:restore")
    async def restore(
        self, request: Request[Any, Any, Any], org: OrgScope, kind: str, locale: str, variant: str
    ) -> Redirect:
        return await self._act(request, org, kind, locale, variant, "restore")

    @post("/texts/{kind:str}/{locale:str}/{variant:str}/reset", name="console:nudges:reset")
    async def reset(
        self, request: Request[Any, Any, Any], org: OrgScope, kind: str, locale: str, variant: str
    ) -> Redirect:
        return await self._act(request, org, kind, locale, variant, "reset")

    @post("/texts/{kind:str}/{locale:str}/{variant:str}/send-to-me", name="console:nudges:send")
    async def send_to_me(
        self, request: Request[Any, Any, Any], org: OrgScope, kind: str, locale: str, variant: str
    ) -> Redirect:
        return await self._act(request, org, kind, locale, variant, "send")


def _variant_url(variant: NudgeVariantPublic) -> str:
    return f"{TEXTS}/{variant.kind.value}/{variant.locale}/{variant.variant}"


CONTROLLERS = [ConsoleNudgesController]
