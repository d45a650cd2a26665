from litestar import Controller, get
from litestar.datastructures import State
from litestar.response import Response
from sqlalchemy import text

from backend.deps import app_context


class HealthController(Controller):
    path = "/healthz"
    tags = ["health"]

    @get("/", summary="Liveness and database check", opt={"public": True})
    async def health(self, state: State) -> Response[dict[str, str]]:
        ctx = app_context(state)
        try:
            async with ctx.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means "not ready"; say which
            return Response(
                {"status": "unavailable", "database": type(exc).__name__}, status_code=503
            )
        return Response({"status": "ok", "database": ctx.engine.dialect.name})
