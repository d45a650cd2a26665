"""Request and response shapes of push subscriptions (a browser's ``PushSubscription``)."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from backend.accounts.schemas import Schema


class PushKeysIn(Schema):
    p256dh: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    auth: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class PushSubscriptionIn(Schema):
    """What ``PushSubscription.toJSON()`` gives, plus an optional name for the device."""

    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    expirationTime: float | None = Field(default=None, ge=0)
    keys: PushKeysIn
    user_agent_label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""


class PushDeviceOut(BaseModel):
    id: int
    endpoint: str
    user_agent_label: str
    created_at: datetime
    last_success_at: datetime | None


class PublicKeyOut(BaseModel):
    public_key: str
