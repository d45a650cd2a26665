from typing import Annotated

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import Parameter

from backend.auth.guards import requires_user
from backend.deps import provide_scope
from backend.kudos import service
from backend.kudos.schemas import KudosIn, KudosOut
from backend.tenancy import OrgScope


class KudosController(Controller):
    path = "/api/v1/kudos"
    tags = ["kudos"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @post("/", summary="Send kudos to a colleague of my organisation (at most 20 a day)")
    async def send(self, org: OrgScope, data: KudosIn) -> KudosOut:
        return await service.send_kudos(org, data)


class MyKudosController(Controller):
    path = "/api/v1/me/kudos"
    tags = ["kudos"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="Kudos I received, newest first")
    async def received(
        self, org: OrgScope, limit: Annotated[int, Parameter(ge=1, le=200)] = 50
    ) -> list[KudosOut]:
        return await service.received(org, limit)
