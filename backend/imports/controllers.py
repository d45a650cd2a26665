"""The JSON API of CSV imports (L&D admins): upload a file, then follow its job."""

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import ClientException
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.response import Response
from pydantic import Field, ValidationError

from backend.accounts.schemas import Schema as RequestSchema
from backend.auth.guards import requires_ld_admin
from backend.auth.principal import Principal
from backend.deps import app_context, provide_scope
from backend.imports import services
from backend.imports.services import KINDS, MAX_FILE_BYTES, ImportJobPublic
from backend.tenancy import OrgScope

MAX_BODY = MAX_FILE_BYTES + 64 * 1024  # the file and a multipart envelope


class CsvDocument(RequestSchema):
    """The file inside a JSON body, for clients that only speak JSON."""

    csv: str = Field(max_length=MAX_FILE_BYTES, description="The file's text.")
    filename: str = Field(default="", max_length=200)


@dataclass
class CsvUploadOperation(Operation):
    """The request body in the OpenAPI document: a CSV file, sent raw or as a form field."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description=(
                "The CSV file: the raw body (text/csv), the form field `file`, or JSON "
                '`{"csv": "<the file\'s text>", "filename": "..."}`.'
            ),
            content={
                "text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
                "application/json": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["csv"],
                        properties={
                            "csv": Schema(type=OpenAPIType.STRING),
                            "filename": Schema(type=OpenAPIType.STRING),
                        },
                    )
                ),
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["file"],
                        properties={
                            "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                        },
                    )
                ),
            },
        )


async def _file(request: Request[Any, Any, Any]) -> tuple[str, bytes]:
    """The uploaded file's name and bytes, from a multipart form or the raw body."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile):
            raise ClientException("file: send the CSV file in the form field 'file'")
        return upload.filename or "", await upload.read()
    if content_type.startswith("application/json"):
        try:
            sent = CsvDocument.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise ClientException(f"{where}: {first['msg']}") from exc
        return sent.filename, sent.csv.encode()
    if content_type.startswith("application/x-www-form-urlencoded"):
        raise ClientException("send the CSV file as text/csv, multipart/form-data or JSON")
    name = request.query_params.get("filename") or ""
    return name, await request.body()


async def _submit(request: Request[Any, Any, Any], org: OrgScope, kind: str) -> Response[Any]:
    name, data = await _file(request)
    job, checked = await services.submit(org, KINDS[kind], name, data)
    body = services.job_public(job)
    if job.status == "rejected":
        # the job's fields plus a one-line ``detail``, like every other 4xx of the API
        first = job.errors[0] if job.errors else {}
        where = f"row {first.get('row')}, {first.get('column')}: " if first.get("row") else ""
        summary = f"{job.error_count} problem(s), nothing imported; first: {where}"
        detail = summary + str(first.get("message", ""))
        return Response(content={"detail": detail, **body.model_dump(mode="json")}, status_code=400)
    assert job.id is not None
    principal: Principal = request.scope["user"]
    return Response(
        content=body,
        status_code=202,
        headers={"Location": f"/api/v1/imports/{job.id}"},
        background=BackgroundTask(
            services.run, app_context(request.app.state).sessionmaker, principal, job.id, checked
        ),
    )


DESCRIPTION = (
    "Every row is checked first; with any problem the answer is 400 with every problem (row "
    "and column) and nothing is imported. Otherwise 202: the import runs, follow it at "
    "GET /api/v1/imports/{id}. Rows are matched by {key}; re-importing a file changes nothing."
)


class ImportController(Controller):
    path = "/api/v1/imports"
    tags = ["imports"]
    guards = [requires_ld_admin]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @post(
        "/courses",
        summary="Import courses from a CSV file (L&D admin)",
        description=DESCRIPTION.replace("{key}", "external_id"),
        operation_class=CsvUploadOperation,
        request_max_body_size=MAX_BODY,
        status_code=202,
    )
    async def import_courses(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Response[ImportJobPublic]:
        return await _submit(request, org, "courses")

    @post(
        "/people",
        summary="Import people and teams from a CSV file (L&D admin)",
        description=DESCRIPTION.replace("{key}", "e-mail address"),
        operation_class=CsvUploadOperation,
        request_max_body_size=MAX_BODY,
        status_code=202,
    )
    async def import_people(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Response[ImportJobPublic]:
        return await _submit(request, org, "people")

    @get("/{import_id:int}", summary="An import's progress and outcome (L&D admin)")
    async def get_import(self, org: OrgScope, import_id: int) -> ImportJobPublic:
        return services.job_public(await services.get_job(org, import_id))
