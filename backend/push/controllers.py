"""Web Push: the VAPID public key for browsers, and a learner's push subscriptions."""

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_503_SERVICE_UNAVAILABLE

from backend.auth.guards import requires_user
from backend.deps import app_context, provide_scope
from backend.push import services
from backend.push.keys import PushNotConfigured, load_vapid_key
from backend.push.schemas import PublicKeyOut, PushDeviceOut, PushSubscriptionIn
from backend.tenancy import OrgScope


class PushKeyController(Controller):
    path = "/api/v1/push"
    tags = ["push"]

    @get("/public-key", summary="The VAPID public key to subscribe with (applicationServerKey)")
    async def public_key(self, state: State) -> PublicKeyOut:
        try:
            key = load_vapid_key(app_context(state).settings)
        except PushNotConfigured as exc:
            raise HTTPException(
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
                detail=f"push notifications are not available: {exc}",
            ) from exc
        return PublicKeyOut(public_key=key.public_key_b64)


class MyPushSubscriptionController(Controller):
    path = "/api/v1/me/push-subscriptions"
    tags = ["push"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="My devices that receive push notifications")
    async def list_devices(self, org: OrgScope) -> list[PushDeviceOut]:
        return await services.my_devices(org)

    @post(
        "/",
        summary="Subscribe this device (the browser's PushSubscription.toJSON()); "
        "201 when new to me, 200 when refreshed",
    )
    async def subscribe(
        self, org: OrgScope, state: State, data: PushSubscriptionIn
    ) -> Response[PushDeviceOut]:
        device, created = await services.subscribe(org, app_context(state).settings, data)
        return Response(device, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @delete("/", summary="Unsubscribe one of my devices by its endpoint")
    async def unsubscribe(
        self,
        org: OrgScope,
        endpoint: Annotated[
            # NUL can't be in any stored endpoint (PostgreSQL text refuses it): a 400, not a 500
            str, Parameter(query="endpoint", min_length=1, max_length=2000, pattern=r"^[^\x00]*$")
        ],
    ) -> None:
        await services.unsubscribe(org, endpoint)
