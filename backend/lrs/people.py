"""A person as the LRS knows them: by the agent identifiers statements and documents name
them with (an address, its SHA-1, an LMS account), not by row. Used to export and to erase
what the LRS keeps about someone."""

import hashlib
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, delete, or_, text
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import XapiDocument, XapiStatement
from backend.lrs import attachments
from backend.lrs.statements import REF_LEVELS


def names_person(key: Any, email: str, external_id: str | None) -> ColumnElement[bool]:
    """Whether an agent-key column (``mbox:…``, ``mbox_sha1sum:…``, ``account:[home,name]``,
    see backend.lrs.statement_store.agent_key) names the person with ``email`` or, on any
    home page, the LMS account name ``external_id``."""
    address = f"mailto:{email.lower()}"
    sha1 = hashlib.sha1(address.encode(), usedforsecurity=False).hexdigest()
    theirs: ColumnElement[bool] = col(key).in_([f"mbox:{address}", f"mbox_sha1sum:{sha1}"])
    if external_id:
        suffix = "," + msgspec.json.encode(external_id).decode() + "]"
        theirs = or_(
            theirs,
            and_(
                col(key).startswith("account:[", autoescape=True),
                col(key).endswith(suffix, autoescape=True),
            ),
        )
    return theirs


async def forget_person(
    session: AsyncSession, org_id: int, email: str, external_id: str | None
) -> None:
    """Delete what the LRS keeps about a person who is being erased, in the caller's
    transaction and only in their organisation (the same address elsewhere is another
    person): their State and Agent Profile documents, and the statements about them (as
    actor, or as the Agent a statement is about) with the attachment data only they named."""
    await session.exec(
        delete(XapiDocument).where(
            col(XapiDocument.organisation_id) == org_id,
            names_person(XapiDocument.agent_key, email, external_id),
        )
    )
    erased = (
        await session.exec(
            delete(XapiStatement)
            .where(
                col(XapiStatement.organisation_id) == org_id,
                or_(
                    names_person(XapiStatement.actor_key, email, external_id),
                    names_person(XapiStatement.object_agent_key, email, external_id),
                ),
            )
            .returning(col(XapiStatement.statement_id), col(XapiStatement.document))
        )
    ).all()
    # and the attachments' data only those statements named
    await attachments.forget_data_of(session, org_id, [document for _, document in erased])
    await _forget_targets(session, org_id, [str(sid) for sid, _ in erased])


# A StatementRef keeps what its target matched (migration 0033's target_keys), and so does
# one targeting it, REF_LEVELS deep: computed again without the erased statements, level by
# level (each level reads the one before it as just computed). A reference whose target is
# gone keeps NULL, as one whose target never came: it no longer matches by its target.
_PG_RETARGET = text("""
UPDATE xapi_statement s SET target_keys = xapi_statement_target_keys(
    s.organisation_id, (s.document::jsonb #>> '{object,id}')::uuid)
WHERE s.organisation_id = :org AND s.target_keys IS NOT NULL
  AND s.activity_id IS NULL AND s.object_agent_key IS NULL
  AND s.document::jsonb #>> '{object,objectType}' = 'StatementRef'
  AND lower(s.document::jsonb #>> '{object,id}') = ANY(CAST(:ids AS text[]))
RETURNING s.statement_id::text
""")


async def _forget_targets(session: AsyncSession, org_id: int, statement_ids: list[str]) -> None:
    """Take what the erased statements ``statement_ids`` matched out of the StatementRefs
    that target them, directly or through other StatementRefs."""
    for _ in range(REF_LEVELS):
        if not statement_ids:
            return
        connection = await session.connection()
        changed = await connection.execute(_PG_RETARGET, {"org": org_id, "ids": statement_ids})
        statement_ids = list(changed.scalars().all())
