"""The one place where queries are scoped to the caller's organisation.

Feature services never build an unscoped query on a tenant table: they ask the
``OrgScope`` for ``select(Model)`` or ``get(Model, id)``, which always add
``organisation_id = <caller's organisation>``. A row of another organisation is
indistinguishable from a row that does not exist (404).
"""

from typing import Any, TypeVar, cast

from litestar.exceptions import NotFoundException
from sqlalchemy import BigInteger, ColumnElement, Integer, inspect
from sqlalchemy.orm.util import identity_key
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from backend.auth.principal import Principal
from backend.db.models import Organisation

M = TypeVar("M", bound=SQLModel)


def _out_of_range(column_type: Any, ident: Any) -> bool:
    """An integer id that the column cannot hold (so no row can have it)."""
    if not isinstance(ident, int) or not isinstance(column_type, Integer):
        return False
    bits = 64 if isinstance(column_type, BigInteger) else 32
    return not -(2 ** (bits - 1)) <= ident < 2 ** (bits - 1)


def held(session: AsyncSession, model: type[M], ident: Any) -> M | None:
    """The row of ``model`` with primary key ``ident`` that ``session`` already loaded and
    still holds unexpired, if any: a query would hand back that very object without
    refreshing it, so asking again for the caller, their organisation or their state costs
    no round trip."""
    found = session.sync_session.identity_map.get(identity_key(model, ident))
    if found is None:
        return None
    state = inspect(found)
    if state.expired_attributes or state.deleted or state.was_deleted or state.detached:
        return None
    return found


class OrgScope:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.organisation_id = principal.organisation_id

    def owns(self, model: type[SQLModel]) -> ColumnElement[bool]:
        """The condition "this row of ``model`` belongs to the caller's organisation"."""
        column = model.__table__.c.organisation_id  # type: ignore[attr-defined]
        return cast(ColumnElement[bool], column == self.organisation_id)

    def select(self, model: type[M]) -> SelectOfScalar[M]:
        return select(model).where(self.owns(model))

    async def get(self, model: type[M], ident: Any, *, what: str | None = None) -> M:
        row = await self.find(model, ident)
        if row is None:
            raise NotFoundException(f"{what or model.__name__.lower()} {ident} not found")
        return row

    async def find(self, model: type[M], ident: Any) -> M | None:
        """The caller's organisation's row of ``model`` with primary key ``ident``, or None."""
        pk = model.__table__.primary_key.columns.values()[0]  # type: ignore[attr-defined]
        if _out_of_range(pk.type, ident):
            # e.g. 2**31 for a PostgreSQL INTEGER: no such row, and the driver would raise
            return None
        known = held(self.session, model, ident)
        if known is not None and getattr(known, "organisation_id", None) == self.organisation_id:
            return known
        return (await self.session.exec(self.select(model).where(pk == ident))).first()

    async def organisation(self) -> Organisation:
        """The caller's organisation row."""
        known = held(self.session, Organisation, self.organisation_id)
        if known is not None:
            return known
        query = select(Organisation).where(Organisation.id == self.organisation_id)
        return (await self.session.exec(query)).one()

    async def all(self, statement: SelectOfScalar[M]) -> list[M]:
        return list((await self.session.exec(statement)).all())

    def add(self, row: M) -> M:
        """Stage a new row in the caller's organisation (whatever organisation it claimed)."""
        row.organisation_id = self.organisation_id
        self.session.add(row)
        return row
