"""Console: the testimonial moderation queue, and whether testimonials wait for approval.

The same services as ``/api/v1/testimonials`` (backend/catalogue/testimonials.py), so every
action writes its audit entry. Each form posts to a URL that carries the queue's filter, and
the redirect goes back to the same view.
"""

from datetime import datetime
from typing import Annotated, Any, cast
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import ValidationError

from backend.catalogue import testimonials as service
from backend.console.shell import (
    ConsoleController,
    Listing,
    console_page,
    flash,
    form_errors,
    principal_of,
    redirect,
    use_locale,
)
from backend.tenancy import OrgScope
from pwa.i18n import N_, gettext

PATH = "/console/testimonials"
FILTERS: tuple[tuple[str, str], ...] = (
    ("", N_("All")),
    ("pending", N_("Pending")),
    ("approved", N_("Approved")),
    ("hidden", N_("Hidden")),
)
STATUS_LABELS = {
    "pending": N_("Pending"),
    "approved": N_("Approved"),
    "hidden": N_("Hidden"),
}
STATUS_PILLS = {"pending": "pill-amber", "approved": "pill-green", "hidden": "pill-red"}
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _listing(request: Request[Any, Any, Any]) -> Listing:
    listing = Listing.from_request(
        request, sorts=("queue",), default_sort="queue", filters=("status",), per_page=20
    )
    if listing.filters.get("status") not in {"pending", "approved", "hidden"}:
        listing.filters["status"] = ""
    listing.sort = ""  # one order: pending first, then newest first
    return listing


def _back(listing: Listing) -> Redirect:
    page = listing.page if listing.page > 1 else None
    return redirect(PATH, q=listing.q, status=listing.filters["status"], page=page)


class TestimonialsConsoleController(ConsoleController):
    path = PATH

    @get("/", name="console:testimonials")
    async def queue(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        use_locale(request)
        return await self._page(request, org, _listing(request))

    async def _page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        listing: Listing,
        *,
        hide_errors: dict[int, str] | None = None,
        hide_values: dict[int, str] | None = None,
        setting_error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        status = listing.filters["status"] or None
        queue = await service.moderation_queue(
            org,
            service.QueueQuery(status=cast(service.StatusFilter | None, status), q=listing.q),
            limit=listing.per_page,
            offset=listing.offset,
        )
        listing.total = queue.total
        principal = principal_of(request)
        locale = use_locale(request)

        def when(value: datetime | None) -> str:
            if value is None:
                return ""
            local = value.astimezone(ZoneInfo(principal.timezone))
            # "7 dec 2026, 15:28": minutes are enough to tell moderation steps apart
            day = format_date(local, format="medium", locale=locale)
            return f"{day}, {format_time(local, format='short', locale=locale)}"

        counts = {s.value: n for s, n in queue.counts.items()}
        return console_page(
            request,
            "console/testimonials/index.html",
            {
                "listing": listing,
                "items": [
                    {
                        "t": t,
                        "status_label": gettext(STATUS_LABELS[t.status.value]),
                        "pill": STATUS_PILLS[t.status.value],
                        "written": when(t.created_at),
                        "moderated": when(t.moderated_at),
                    }
                    for t in queue.items
                ],
                "tabs": [
                    (value, gettext(label), sum(counts.values()) if not value else counts[value])
                    for value, label in FILTERS
                ],
                "counts": counts,
                "need_approval": queue.need_approval,
                "hide_errors": hide_errors or {},
                "hide_values": hide_values or {},
                "setting_error": setting_error,
                "action_query": listing.url(),
                "reason_limits": (service.MIN_REASON, service.MAX_REASON),
            },
            section="testimonials",
            title=gettext(N_("Testimonials")),
            status_code=status_code,
        )

    @post("/{testimonial_id:int}/approve", name="console:testimonial-approve")
    async def approve(
        self, request: Request[Any, Any, Any], org: OrgScope, testimonial_id: int
    ) -> Redirect:
        use_locale(request)
        saved = await service.approve_testimonial(org, testimonial_id)
        flash(
            request,
            gettext(N_("Approved: colleagues see it on “%(course)s”."))
            % {"course": saved.course_title},
        )
        return _back(_listing(request))

    @post("/{testimonial_id:int}/hide", name="console:testimonial-hide")
    async def hide(
        self, request: Request[Any, Any, Any], org: OrgScope, testimonial_id: int, data: Form
    ) -> Redirect | Template:
        use_locale(request)
        listing = _listing(request)
        reason = data.get("reason", "")
        try:
            checked = service.HideIn.model_validate({"reason": reason})
        except ValidationError as error:
            await service.get_for_moderation(org, testimonial_id)  # 404 before a form error
            message = form_errors(error).get("reason", gettext(N_("This value is not valid.")))
            if error.errors()[0]["type"] == "string_too_short":
                message = gettext(N_("Say why you hide it (at least 3 characters)."))
            return await self._page(
                request,
                org,
                listing,
                hide_errors={testimonial_id: message},
                hide_values={testimonial_id: reason},
                status_code=400,
            )
        saved = await service.hide_testimonial(org, testimonial_id, checked.reason)
        flash(
            request,
            gettext(N_("Hidden: it no longer shows on “%(course)s”."))
            % {"course": saved.course_title},
        )
        return _back(listing)

    @post("/{testimonial_id:int}/restore", name="console:testimonial-restore")
    async def restore(
        self, request: Request[Any, Any, Any], org: OrgScope, testimonial_id: int
    ) -> Redirect:
        use_locale(request)
        try:
            saved = await service.restore_testimonial(org, testimonial_id)
        except ClientException as error:
            if error.status_code != 409:
                raise
            flash(request, gettext(N_("This testimonial is not hidden.")), kind="error")
        else:
            message = (
                N_("Restored: colleagues see it again.")
                if saved.status == service.TestimonialStatus.approved
                else N_("Restored: it is back in the queue, waiting for approval.")
            )
            flash(request, gettext(message))
        return _back(_listing(request))

    @post("/settings", name="console:testimonials-setting")
    async def setting(
        self, request: Request[Any, Any, Any], org: OrgScope, data: Form
    ) -> Redirect | Template:
        use_locale(request)
        listing = _listing(request)
        try:
            checked = service.ApprovalSettingIn.model_validate(
                {"need_approval": data.get("need_approval")}
            )
        except ValidationError:
            return await self._page(
                request,
                org,
                listing,
                setting_error=gettext(N_("Choose one of the options.")),
                status_code=400,
            )
        await service.set_need_approval(org, checked.need_approval)
        flash(
            request,
            gettext(
                N_("Saved: testimonials show only after approval.")
                if checked.need_approval
                else N_("Saved: testimonials show right away, before approval.")
            ),
        )
        return _back(listing)


CONTROLLERS = [TestimonialsConsoleController]
