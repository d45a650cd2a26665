"""Console: the competencies L&D expects of each job family (People section).

Each job family in use (by people or courses) gets a form of the organisation's competencies
as checkboxes; a form below adds one nobody is in yet. Saving goes through
``accounts.job_families.set_expected_competencies`` like ``PUT /api/v1/job-families/…``.
"""

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import ClientException
from litestar.response import Redirect, Template

from backend.accounts import job_families
from backend.catalogue.services import list_competencies
from backend.console.catalogue_common import form_ids, form_text, read_form
from backend.console.shell import ConsoleController, console_page, flash, redirect, use_locale
from backend.tenancy import OrgScope
from pwa.i18n import N_, gettext

JOB_FAMILIES = "/console/people/job-families"
NEW = "__new__"  # the form key of the "another job family" form


class JobFamilyConsoleController(ConsoleController):
    path = JOB_FAMILIES

    async def _page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        *,
        failed: str | None = None,
        chosen: list[int] | None = None,
        new_family: str = "",
        error: str = "",
        status_code: int = 200,
    ) -> Template:
        use_locale(request)
        families = await job_families.job_family_overview(org)
        rows = [
            {
                "f": family,
                "anchor": f"family-{index}",
                "chosen": chosen
                if failed == family.job_family
                else [c.id for c in family.competencies],
                "error": error if failed == family.job_family else "",
            }
            for index, family in enumerate(families, 1)
        ]
        known = {family.job_family for family in families}
        new_failed = failed is not None and failed not in known
        return console_page(
            request,
            "console/people/job_families.html",
            {
                "families": rows,
                "competencies": await list_competencies(org),
                "new": {
                    "value": new_family if new_failed else "",
                    "chosen": (chosen or []) if new_failed else [],
                    "error": error if new_failed else "",
                },
            },
            section="people",
            title=gettext(N_("Job families")),
            status_code=status_code,
        )

    @get("/", name="console:job-families")
    async def index(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        return await self._page(request, org)

    @post("/", name="console:job-families-save")
    async def save(self, request: Request[Any, Any, Any], org: OrgScope) -> Template | Redirect:
        use_locale(request)
        form = await read_form(request)
        family = form_text(form, "job_family").strip()
        chosen = form_ids(form, "competency_ids")
        try:
            saved = await job_families.set_expected_competencies(org, family, chosen)
        except ClientException as exc:
            extra = exc.extra if isinstance(exc.extra, dict) else {}
            if extra.get("field") == "job_family":
                message = gettext(
                    N_("Name the job family (up to 80 characters), e.g. Finance.")
                    if family
                    else N_("Name the job family, e.g. Finance.")
                )
            else:
                message = gettext(N_("Choose competencies from the list."))
            return await self._page(
                request,
                org,
                failed=family,
                chosen=chosen,
                new_family=family,
                error=message,
                status_code=400,
            )
        flash(
            request,
            gettext(N_("Saved what is expected of job family “%(name)s”."))
            % {"name": saved.job_family},
        )
        return redirect(JOB_FAMILIES)


CONTROLLERS = [JobFamilyConsoleController]
