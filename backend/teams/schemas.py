from pydantic import BaseModel, ConfigDict, Field

from backend.accounts.schemas import Schema
from backend.validation import Name


class TeamCreate(Schema):
    name: Name
    manager_ids: list[int] = Field(default_factory=list, max_length=20)


class TeamUpdate(Schema):
    name: Name | None = None
    manager_ids: list[int] | None = Field(
        default=None, max_length=20, description="exactly these people manage the team"
    )


class MembershipUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    is_manager: bool = False


class TeamMember(BaseModel):
    user_id: int
    display_name: str
    is_manager: bool


class TeamPublic(BaseModel):
    id: int
    name: str
    member_count: int
    managers: list[str]


class TeamDetail(TeamPublic):
    members: list[TeamMember]
