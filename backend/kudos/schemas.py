"""Request and response shapes of kudos: a colleague's thanks."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from backend.accounts.schemas import Schema

MAX_MESSAGE = 280


class KudosIn(Schema):
    to_user_id: int = Field(ge=1)
    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE)
    ]


class KudosOut(BaseModel):
    id: int
    # "learned_from_you": came with a colleague's learning moment; "note": sent by hand
    kind: Literal["learned_from_you", "note"]
    from_user_id: int
    from_name: str
    to_user_id: int
    to_name: str
    message: str
    moment: str | None = Field(description="What the colleague learned from me, if any")
    created_at: datetime
