"""My data: download everything learnloop keeps about me, or delete my account.

The export holds only the caller's own rows (their profile, learning, XP, badges, testimonials,
kudos sent and received, and learner state); of colleagues only the names on those kudos. Deleting removes the user row; the database cascades
to everything of theirs (learning events, XP ledger, badges, testimonials, kudos sent and
received, team memberships, learner state). An organisation's last active L&D admin cannot delete themselves.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get
from litestar.di import Provide
from litestar.exceptions import ClientException
from pydantic import StringConstraints
from sqlmodel import col, select

from backend.accounts import services
from backend.accounts.schemas import Schema
from backend.auth.guards import requires_user
from backend.db.models import (
    BadgeAward,
    Course,
    LearnerState,
    LearningEvent,
    Nudge,
    PushSubscription,
    Role,
    Testimonial,
    TrainingRequest,
    User,
    XpLedgerEntry,
)
from backend.deps import provide_scope
from backend.kudos import service as kudos
from backend.lrs import documents as xapi_documents
from backend.lrs import people as lrs_people
from backend.tenancy import OrgScope

CONFIRM_WORD = "DELETE"
EXPORT_FILENAME = "learnloop-export.json"


class LastAdminError(ClientException):
    status_code = 409


class DeleteMeRequest(Schema):
    confirm: Annotated[str, StringConstraints(max_length=40)]


async def export_me(org: OrgScope) -> dict[str, Any]:
    """Everything about the caller, as plain JSON-ready data."""
    user_id = org.principal.user_id
    assert user_id is not None
    profile = await services.me(org.session, user_id, org.organisation_id)
    events = await org.all(
        org.select(LearningEvent)
        .where(LearningEvent.user_id == user_id)
        .order_by(col(LearningEvent.occurred_at), col(LearningEvent.id))
    )
    ledger = await org.all(
        org.select(XpLedgerEntry)
        .where(XpLedgerEntry.user_id == user_id)
        .order_by(col(XpLedgerEntry.created_at), col(XpLedgerEntry.id))
    )
    awards = await org.all(
        org.select(BadgeAward)
        .where(BadgeAward.user_id == user_id)
        .order_by(col(BadgeAward.awarded_at), col(BadgeAward.id))
    )
    testimonials = (
        await org.session.exec(
            select(Testimonial, Course.title)
            .join(Course, col(Course.id) == col(Testimonial.course_id))
            .where(org.owns(Testimonial), Testimonial.user_id == user_id)
            .order_by(col(Testimonial.created_at), col(Testimonial.id))
        )
    ).all()
    kudos_sent = await kudos.sent(org)
    person = await org.get(User, user_id, what="user")
    xapi = await xapi_documents.person_documents(
        org.session, org.organisation_id, person.email, person.external_id
    )
    kudos_received = await kudos.received(org, limit=100_000)
    requests = (
        await org.session.exec(
            select(TrainingRequest, Course.title)
            .join(Course, col(Course.id) == col(TrainingRequest.course_id))
            .where(org.owns(TrainingRequest), TrainingRequest.user_id == user_id)
            .order_by(col(TrainingRequest.created_at), col(TrainingRequest.id))
        )
    ).all()
    devices = await org.all(
        org.select(PushSubscription)
        .where(PushSubscription.user_id == user_id)
        .order_by(col(PushSubscription.created_at))
    )
    nudges = await org.all(
        org.select(Nudge).where(Nudge.user_id == user_id).order_by(col(Nudge.created_at))
    )
    state = (
        await org.session.exec(org.select(LearnerState).where(LearnerState.user_id == user_id))
    ).first()
    return {
        "exported_at": datetime.now(UTC).isoformat(),
        "profile": profile.model_dump(mode="json"),
        "learning_events": [
            {
                "title": e.title,
                "kind": e.kind,
                "source": e.source,
                "minutes": e.minutes,
                "occurred_at": e.occurred_at.isoformat(),
                "local_date": e.local_date.isoformat(),
                "course_id": e.course_id,
                "competency_id": e.competency_id,
                "recorded_at": e.created_at.isoformat(),
                "voided": e.voided,  # its statement was voided: it earns nothing
            }
            for e in events
        ],
        "xp_ledger": [
            {
                "amount": x.amount,
                "reason": x.reason,
                "local_date": x.local_date.isoformat(),
                "created_at": x.created_at.isoformat(),
            }
            for x in ledger
        ],
        "badge_awards": [
            {
                "badge_code": b.badge_code,
                "tier": b.tier,
                "awarded_at": b.awarded_at.isoformat(),
                "public_id": b.public_id,
            }
            for b in awards
        ],
        "testimonials": [
            {"course": title, "text": t.text, "created_at": t.created_at.isoformat()}
            for t, title in testimonials
        ],
        "kudos_sent": [
            {
                "to": k.to_name,
                "message": k.message,
                "moment": k.moment,
                "created_at": k.created_at.isoformat(),
            }
            for k in kudos_sent
        ],
        "kudos_received": [
            {
                "from": k.from_name,
                "message": k.message,
                "moment": k.moment,
                "created_at": k.created_at.isoformat(),
            }
            for k in kudos_received
        ],
        "training_requests": [
            {
                "course": title,
                "cost_cents": r.cost_cents,
                "status": r.status,
                "created_at": r.created_at.isoformat(),
            }
            for r, title in requests
        ],
        "push_devices": [
            {"label": d.user_agent_label, "created_at": d.created_at.isoformat()} for d in devices
        ],
        "nudges": [
            {
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "status": n.status,
                "sent_at": n.sent_at.isoformat() if n.sent_at else None,
                "clicked_at": n.clicked_at.isoformat() if n.clicked_at else None,
            }
            for n in nudges
        ],
        # what course content kept through the xAPI State and Agent Profile resources
        "xapi_documents": xapi,
        "learner_state": None
        if state is None
        else {
            "xp_total": state.xp_total,
            "level": state.level,
            "current_streak": state.current_streak,
            "longest_streak": state.longest_streak,
            "freezes_banked": state.freezes_banked,
            "last_active_date": state.last_active_date.isoformat()
            if state.last_active_date
            else None,
            "weekly_goal_minutes": state.weekly_goal_minutes,
        },
    }


async def delete_me(org: OrgScope) -> None:
    """Remove the caller and (by cascade) everything of theirs; 409 for the last L&D admin."""
    assert org.principal.user_id is not None
    user = await org.get(User, org.principal.user_id, what="user")
    if Role.ld_admin.value in user.roles:
        admins = [
            u
            for u in await org.all(
                org.select(User).where(col(User.is_active).is_(True), User.id != user.id)
            )
            if Role.ld_admin.value in u.roles
        ]
        if not admins:
            raise LastAdminError(
                "you are the last L&D admin of your organisation: give someone else the "
                "L&D admin role before you delete your account"
            )
    # the LRS names the person by address or account, not by row
    await lrs_people.forget_person(org.session, org.organisation_id, user.email, user.external_id)
    await org.session.delete(user)
    await org.session.commit()


async def delete_my_account(
    request: Request[Any, Any, Any], org: OrgScope, data: DeleteMeRequest
) -> None:
    """``DELETE /api/v1/me`` (served by ``MeController``, which owns that path)."""
    if data.confirm != CONFIRM_WORD:
        raise ClientException(
            f'type the word {CONFIRM_WORD} in "confirm" to delete your account',
            extra={"field": "confirm"},
        )
    await delete_me(org)
    request.clear_session()


class PrivacyController(Controller):
    path = "/api/v1/me"
    tags = ["me"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/export", summary="Download all my data as a JSON file")
    async def export(self, org: OrgScope) -> Response[dict[str, Any]]:
        return Response(
            await export_me(org),
            media_type=MediaType.JSON,
            headers={"Content-Disposition": f'attachment; filename="{EXPORT_FILENAME}"'},
        )
