"""Signed-in sessions that end everywhere: the one way to start and end them.

The session cookie is encrypted and any app process can read it, so on its own a copied
cookie would keep working until it expired, whatever its owner did. So each sign-in is a
row in ``user_session`` whose id travels in the cookie, and the per-request user read
(``backend.auth.middleware``) only signs someone in while that row is not ended: signing
out ends it, and "sign out everywhere" (the person themselves, or an L&D admin for them)
ends all of a person's sessions, for every copy of every cookie on every app process, with
no extra round trip per request. A password change signs other sessions out as before
(the password version in the cookie).
"""

import uuid
from datetime import timedelta
from typing import Any

from litestar import Request
from sqlalchemy import delete, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit import services as audit
from backend.auth.middleware import (
    SESSION_ID,
    SESSION_ORG,
    SESSION_PASSWORD_VERSION,
    SESSION_USER,
    password_version,
    session_id_of,
)
from backend.context import AppContext
from backend.db.models import User, UserSession
from backend.db.types import utcnow
from backend.learning.connections import on_pooled_connection
from backend.tenancy import OrgScope

KEEP_ENDED = timedelta(days=30)
"""Ended sessions are deleted this long after they ended (when their person signs in)."""


async def start_session(db: AsyncSession, request: Request[Any, Any, Any], user: User) -> None:
    """Sign ``user`` in on this request: a new session row, its id in the cookie."""
    assert user.id is not None
    now = utcnow()
    session_id = uuid.uuid4()
    db.add(
        UserSession(
            id=session_id, organisation_id=user.organisation_id, user_id=user.id, created_at=now
        )
    )
    connection = await db.connection()  # the session's transaction, without the ORM
    await connection.execute(
        delete(UserSession).where(
            col(UserSession.user_id) == user.id,
            col(UserSession.ended_at) < now - KEEP_ENDED,
        )
    )
    await db.commit()
    request.set_session(
        {
            SESSION_USER: user.id,
            SESSION_ORG: user.organisation_id,
            SESSION_PASSWORD_VERSION: password_version(user),
            SESSION_ID: str(session_id),
        }
    )


_END_ONE = """
UPDATE user_session SET ended_at = $4
WHERE id = $1 AND user_id = $2 AND organisation_id = $3 AND ended_at IS NULL
"""


async def end_session(ctx: AppContext, request: Request[Any, Any, Any]) -> None:
    """Sign out: this session ends for every copy of its cookie, and the cookie is cleared."""
    data = request.session if isinstance(request.session, dict) else {}
    uid, org, sid = data.get(SESSION_USER), data.get(SESSION_ORG), session_id_of(data)
    request.clear_session()
    if isinstance(uid, int) and isinstance(org, int) and sid is not None:
        await on_pooled_connection(
            ctx.engine, lambda pg: pg.execute(_END_ONE, sid, uid, org, utcnow())
        )


async def sign_out_everywhere(scope: OrgScope, user_id: int) -> int:
    """End every session of ``user_id`` (of the caller's organisation; 404 otherwise), for
    every copy of every cookie: an L&D admin for someone, or a person for themselves.
    Audited. How many sessions ended."""
    user = await scope.get(User, user_id, what="user")  # 404 unless in the organisation
    connection = await scope.session.connection()
    ended = await connection.execute(
        update(UserSession)
        .where(
            col(UserSession.organisation_id) == scope.organisation_id,
            col(UserSession.user_id) == user_id,
            col(UserSession.ended_at).is_(None),
        )
        .values(ended_at=utcnow())
    )
    count = int(getattr(ended, "rowcount", 0) or 0)
    audit.record(
        scope,
        "user.sign_out_everywhere",
        target_type="user",
        target_id=user_id,
        summary=f"Signed {user.display_name} out everywhere ({count} sessions)",
        details={"sessions": count},
    )
    await scope.session.commit()
    return count
