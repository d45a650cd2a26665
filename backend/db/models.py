"""SQLModel table models. Every row belongs to an organisation (see docs/ARCHITECTURE.md).

Only these classes are stored; the API accepts and returns the non-table schemas in each
feature's ``schemas`` module (table models skip validation).
"""

import enum
import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from backend.db.types import UtcDateTime, utcnow

# Alembic and the tests compare against this metadata; constraint names are stable.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default_factory=utcnow if not nullable else None,
        sa_column=Column(UtcDateTime(), nullable=nullable, index=index),
    )


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class Role(enum.StrEnum):
    employee = "employee"
    manager = "manager"
    ld_admin = "ld_admin"


class Locale(enum.StrEnum):
    nl = "nl"
    en = "en"


class CourseFormat(enum.StrEnum):
    elearning = "elearning"
    classroom = "classroom"
    webinar = "webinar"
    video = "video"
    book = "book"
    podcast = "podcast"
    coaching = "coaching"
    workshop = "workshop"


class EventKind(enum.StrEnum):
    completion = "completion"
    progress = "progress"
    experience = "experience"
    informal = "informal"
    testimonial = "testimonial"


class EventSource(enum.StrEnum):
    xapi = "xapi"
    webhook = "webhook"
    api = "api"
    pwa = "pwa"
    import_ = "import"
    demo = "demo"


class Organisation(SQLModel, table=True):
    __tablename__ = "organisation"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    slug: str = Field(max_length=80, unique=True)
    default_timezone: str = Field(default="Europe/Amsterdam", max_length=64)
    default_locale: str = Field(default=Locale.nl.value, max_length=5)
    settings: dict[str, Any] = _json(dict)
    created_at: datetime = _ts()
    # bumped by database triggers when what ingestion reads changes (migration 0008)
    config_version: int = Field(
        default=0, sa_column=Column(BigInteger(), nullable=False, server_default="0")
    )


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    __table_args__ = (
        UniqueConstraint("organisation_id", "email", name="uq_user_account_org_email"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=254, index=True)
    display_name: str = Field(max_length=120)
    password_hash: str | None = Field(default=None, max_length=255)
    roles: list[str] = _json(lambda: [Role.employee.value])
    timezone: str = Field(default="Europe/Amsterdam", max_length=64)
    locale: str = Field(default=Locale.nl.value, max_length=5)
    start_date: date | None = None
    is_active: bool = True
    # the id an LMS knows this person by (xAPI account name, webhook external_id)
    external_id: str | None = Field(default=None, max_length=200)
    leaderboard_opt_in: bool = False
    # nudge preferences: a reminder at this local time (None: the hour they usually learn),
    # no pushes between quiet_hours_start and quiet_hours_end (local), kinds switched off
    reminder_time: time | None = None
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    nudge_kinds_off: list[str] = _json(list)
    # set when the first-run flow ("what's in it for me") was finished or skipped
    onboarded_at: datetime | None = _ts(nullable=True)
    # the kind of work someone does (e.g. "Finance"): learning in another family is horizontal
    job_family: str | None = Field(default=None, max_length=80)
    # this person's yearly learning budget when it differs from the organisation's default
    yearly_budget_cents: int | None = Field(default=None, ge=0)
    created_at: datetime = _ts()


class Team(SQLModel, table=True):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("organisation_id", "name", name="uq_team_org_name"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=120)
    created_at: datetime = _ts()


class TeamMembership(SQLModel, table=True):
    """A user's place in a team; ``is_manager`` marks the team's manager(s)."""

    __tablename__ = "team_membership"

    team_id: int = Field(foreign_key="team.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(
        foreign_key="user_account.id", primary_key=True, index=True, ondelete="CASCADE"
    )
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    is_manager: bool = False


class Competency(SQLModel, table=True):
    __tablename__ = "competency"
    __table_args__ = (UniqueConstraint("organisation_id", "name", name="uq_competency_org_name"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=2000)


class Course(SQLModel, table=True):
    __tablename__ = "course"
    __table_args__ = (
        UniqueConstraint("organisation_id", "external_id", name="uq_course_org_external_id"),
        UniqueConstraint("organisation_id", "xapi_activity_id", name="uq_course_org_activity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=5000)
    provider: str = Field(default="", max_length=120)
    format: str = Field(default=CourseFormat.elearning.value, max_length=20)
    duration_minutes: int = Field(default=0, ge=0)
    cost_cents: int = Field(default=0, ge=0)
    url: str | None = Field(default=None, max_length=1000)
    external_id: str | None = Field(default=None, max_length=200)
    xapi_activity_id: str | None = Field(default=None, max_length=1000)
    hot_skill: bool = False
    # the job family a course is made for (None: for everyone); see User.job_family
    job_family: str | None = Field(default=None, max_length=80)
    created_at: datetime = _ts()
    # archived: out of the learner catalogue; its events, XP and badges stay (migration 0013)
    archived_at: datetime | None = _ts(nullable=True)


class CourseCompetency(SQLModel, table=True):
    __tablename__ = "course_competency"

    course_id: int = Field(foreign_key="course.id", primary_key=True, ondelete="CASCADE")
    competency_id: int = Field(
        foreign_key="competency.id", primary_key=True, index=True, ondelete="CASCADE"
    )
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")


class LearningEvent(SQLModel, table=True):
    """One piece of learning, normalised from xAPI, a webhook, the PWA or an import.

    ``idempotency_key`` is unique per organisation: the same key twice changes nothing.
    ``local_date`` is the learner's calendar day, fixed when the event is ingested.
    """

    __tablename__ = "learning_event"
    __table_args__ = (
        UniqueConstraint("organisation_id", "idempotency_key", name="uq_learning_event_org_key"),
        # INCLUDE: the nudge tick reads a learner's recent learning with an index-only scan
        # (voided: migration 0037)
        Index(
            "ix_learning_event_user_occurred",
            "user_id",
            "occurred_at",
            "id",
            postgresql_include=["local_date", "minutes", "kind", "course_id", "voided"],
        ),
    )

    # BIGINT: the table grows by every statement an LMS sends
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger(), primary_key=True, autoincrement=True),
    )
    # No index of its own (uq_learning_event_org_key leads with it) and no foreign key: it is
    # the learner's organisation, and deleting one deletes its events through its learners
    # (a key here made every ingestion lock the organisation's row; migration 0011).
    organisation_id: int
    user_id: int = Field(foreign_key="user_account.id", ondelete="CASCADE")
    idempotency_key: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    source: str = Field(max_length=20)
    course_id: int | None = Field(default=None, foreign_key="course.id", ondelete="SET NULL")
    competency_id: int | None = Field(
        default=None, foreign_key="competency.id", ondelete="SET NULL"
    )
    activity_id: str | None = Field(default=None, max_length=1000)
    title: str = Field(default="", max_length=300)
    minutes: int = Field(default=0, ge=0)
    occurred_at: datetime = _ts()
    local_date: date
    payload_hash: str = Field(default="", max_length=64)
    payload: dict[str, Any] = _json(dict)
    created_at: datetime = _ts()
    # its statement was voided: the game and the learner's pages leave it out (migration 0032)
    # (no client-side default: an insert that does not name it works on older schemas too)
    voided: bool = Field(
        default=False,
        sa_column=Column(Boolean(), nullable=False, server_default=text("false")),
    )


class LearnerState(SQLModel, table=True):
    """Derived per-learner state, kept (not recomputed) and updated with each event.

    ``data`` holds the engine's state document (active days, freezes, goals, ...), so the
    engine can grow without a migration for every field; the hot fields are columns.
    """

    __tablename__ = "learner_state"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    xp_total: int = 0
    level: int = 1
    current_streak: int = 0
    longest_streak: int = 0
    freezes_banked: int = 0
    last_active_date: date | None = None
    weekly_goal_minutes: int = 60
    data: dict[str, Any] = _json(dict)
    version: int = 0
    next_nudge_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True, index=True)
    )
    updated_at: datetime = _ts()


class XpLedgerEntry(SQLModel, table=True):
    """Append-only: XP is never edited, only added (or countered by a new entry)."""

    __tablename__ = "xp_ledger"
    __table_args__ = (
        Index("ix_xp_ledger_user_local_date", "user_id", "local_date"),
        Index("ix_xp_ledger_org_local_date_user", "organisation_id", "local_date", "user_id"),
        Index("ix_xp_ledger_event", "event_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No index of its own (ix_xp_ledger_org_local_date_user leads with it) and, like
    # event_id, no foreign key: see LearningEvent.organisation_id. An entry is written in
    # the statement that writes its event, and both go only with their learner.
    organisation_id: int
    user_id: int = Field(foreign_key="user_account.id", ondelete="CASCADE")
    event_id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger(), nullable=True),
    )
    amount: int
    reason: str = Field(max_length=40)
    local_date: date
    created_at: datetime = _ts()


class ApiKey(SQLModel, table=True):
    """An integration's key. Only a SHA-256 of the secret part is stored (it is shown once)."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=120)
    prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=64)
    created_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class BadgeDefinition(SQLModel, table=True):
    """A badge L&D defined as data: ``criterion`` and ``tiers`` are the engine's documents."""

    __tablename__ = "badge_definition"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code", name="uq_badge_definition_org_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    code: str = Field(max_length=60)
    name: str = Field(max_length=120)
    name_en: str = Field(default="", max_length=120)
    description: str = Field(default="", max_length=1000)
    description_en: str = Field(default="", max_length=1000)
    criterion: dict[str, Any] = _json(dict)
    tiers: list[dict[str, Any]] = _json(list)
    competency_id: int | None = Field(
        default=None, foreign_key="competency.id", ondelete="SET NULL"
    )
    is_active: bool = True
    created_at: datetime = _ts()


class BadgeAward(SQLModel, table=True):
    """A tier of a badge earned by a learner, once, with the events that earned it."""

    __tablename__ = "badge_award"
    __table_args__ = (
        UniqueConstraint("user_id", "badge_code", "tier", name="uq_badge_award_user_badge_tier"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", ondelete="CASCADE")
    badge_code: str = Field(max_length=60)
    tier: str = Field(max_length=20)
    evidence: list[str] = _json(list)
    public_id: str = Field(max_length=40, unique=True)
    awarded_at: datetime = _ts()
    # L&D withdrew it (awarded by mistake, fraud): its public page says so, verifiers get 410
    revoked_at: datetime | None = _ts(nullable=True)
    revocation_reason: str = Field(default="", max_length=300)


class Challenge(SQLModel, table=True):
    """An organisation-wide challenge (L&D) or a team challenge (sponsored by a manager).

    ``definition`` is the engine's ChallengeDefinition / TeamChallenge document.
    """

    __tablename__ = "challenge"
    __table_args__ = (Index("ix_challenge_org_period", "organisation_id", "ends_on"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)  # "individual" or "team"
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    starts_on: date
    ends_on: date
    definition: dict[str, Any] = _json(dict)
    team_id: int | None = Field(default=None, foreign_key="team.id", ondelete="CASCADE")
    sponsor_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    pledge: str = Field(default="", max_length=300)
    progress: float = 0.0
    completed_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    # a sponsored team challenge: the sponsor's words to the team, and how it was wrapped up
    # (closed_at set once, with the celebration message the team gets; migration 0024)
    message: str = Field(default="", max_length=1000)
    closing_message: str = Field(default="", max_length=1000)
    closed_at: datetime | None = _ts(nullable=True)


class TeamChallengeDay(SQLModel, table=True):
    """A member's learning minutes on one day inside a team challenge (input to its progress)."""

    __tablename__ = "team_challenge_day"

    challenge_id: int = Field(foreign_key="challenge.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    local_date: date = Field(primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    minutes: int = 0


class WebhookSecret(SQLModel, table=True):
    """A shared secret an LMS signs its webhooks with; ``key_id`` travels in a header."""

    __tablename__ = "webhook_secret"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=120)
    key_id: str = Field(max_length=32, unique=True)
    # encrypted with a key derived from LEARNLOOP_SECRET_KEY (it must be readable to verify HMACs)
    secret_encrypted: str = Field(max_length=400)
    created_at: datetime = _ts()
    # brought up to date at most once a minute by a verified delivery (migration 0020)
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


TENANT_TABLES = [
    User,
    Team,
    TeamMembership,
    Competency,
    Course,
    CourseCompetency,
    LearningEvent,
    LearnerState,
    XpLedgerEntry,
    ApiKey,
]


class Testimonial(SQLModel, table=True):
    """A learner's word on a course, for colleagues browsing the catalogue: one per person."""

    __tablename__ = "testimonial"
    __table_args__ = (
        UniqueConstraint("user_id", "course_id", name="uq_testimonial_user_course"),
        Index("ix_testimonial_course_created", "course_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    course_id: int = Field(foreign_key="course.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", ondelete="CASCADE")
    text: str = Field(max_length=1000)
    created_at: datetime = _ts()
    # moderation (migration 0019): "pending" until L&D approves it, or "hidden" with a reason
    # only L&D sees; a rewrite asks for approval again. See backend/catalogue/testimonials.py.
    status: str = Field(default="pending", max_length=16)
    approved_at: datetime | None = _ts(nullable=True)
    hidden_reason: str = Field(default="", max_length=500)
    moderated_at: datetime | None = _ts(nullable=True)
    moderated_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )


TENANT_TABLES.append(Testimonial)


class Kudos(SQLModel, table=True):
    """A colleague's thanks: "I learned this from you" (from a learning moment) or a free note."""

    __tablename__ = "kudos"
    __table_args__ = (Index("ix_kudos_to_user_created", "to_user_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    from_user_id: int = Field(foreign_key="user_account.id", ondelete="CASCADE")
    to_user_id: int = Field(foreign_key="user_account.id", ondelete="CASCADE")
    message: str = Field(default="", max_length=280)
    # the learning moment it came with, if any (one kudos per moment)
    learning_event_id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger(),
            ForeignKey("learning_event.id", ondelete="SET NULL"),
            nullable=True,
            unique=True,
        ),
    )
    created_at: datetime = _ts()


class PushSubscription(SQLModel, table=True):
    """One device of one learner that accepts Web Push messages; the endpoint is unique."""

    __tablename__ = "push_subscription"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    endpoint: str = Field(max_length=2000, unique=True)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    user_agent_label: str = Field(default="", max_length=120)
    created_at: datetime = _ts()
    last_success_at: datetime | None = _ts(nullable=True)
    failure_count: int = 0


class Nudge(SQLModel, table=True):
    """A message the nudge policy decided to send: the outbox row, then the measurement.

    ``id`` is a random public token (the notification carries it; a click reports it).
    ``dedupe_key`` is unique per learner, so the same nudge is never created twice.
    Delivery state: ``pending`` (due at ``due_at``) -> ``sent`` / ``dead`` (reason in
    ``last_error``) / ``skipped`` (no device); workers claim with ``claimed_until``.
    """

    __tablename__ = "nudge"
    __table_args__ = (
        UniqueConstraint("user_id", "dedupe_key", name="uq_nudge_user_dedupe_key"),
        Index("ix_nudge_status_due_at", "status", "due_at"),
        Index("ix_nudge_user_created", "user_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", ondelete="CASCADE")
    kind: str = Field(max_length=40)
    variant: str = Field(default="", max_length=40)
    dedupe_key: str = Field(max_length=200)
    locale: str = Field(default=Locale.nl.value, max_length=5)
    title: str = Field(max_length=200)
    body: str = Field(max_length=500)
    url: str = Field(default="/", max_length=500)
    status: str = Field(default="pending", max_length=12)
    due_at: datetime = _ts()
    attempts: int = 0
    claimed_until: datetime | None = _ts(nullable=True)
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)
    clicked_at: datetime | None = _ts(nullable=True)
    # the first learning within 24 hours after sending (what the nudge is measured by)
    learned_at: datetime | None = _ts(nullable=True)


class PushDelivery(SQLModel, table=True):
    """A nudge sent to one device: at most once per (nudge, subscription)."""

    __tablename__ = "push_delivery"
    __table_args__ = (
        UniqueConstraint("nudge_id", "subscription_id", name="uq_push_delivery_nudge_sub"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    nudge_id: str = Field(foreign_key="nudge.id", index=True, ondelete="CASCADE", max_length=32)
    subscription_id: int = Field(foreign_key="push_subscription.id", index=True, ondelete="CASCADE")
    status: int = 0  # the push service's HTTP status
    delivered_at: datetime = _ts()


class TrainingRequest(SQLModel, table=True):
    """A learner asks to spend learning budget on a course; one request per course.

    ``cost_cents`` is the course's cost when asked (the catalogue price may change later).
    ``status``: ``pending`` (waiting for the manager) -> ``awaiting_ld`` (a manager approved
    a cost above the organisation's L&D threshold) -> ``approved`` or ``declined``
    (``backend.budgets.services`` decides). It counts in the budget year of ``created_at``.
    """

    __tablename__ = "training_request"
    __table_args__ = (
        UniqueConstraint("user_id", "course_id", name="uq_training_request_user_course"),
        Index("ix_training_request_org_status", "organisation_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    course_id: int = Field(foreign_key="course.id", ondelete="CASCADE")
    cost_cents: int = Field(ge=0)
    status: str = Field(default="pending", max_length=12)
    created_at: datetime = _ts()
    decided_at: datetime | None = _ts(nullable=True)
    # the manager's step (approved, then waiting for L&D); names kept as they were then
    manager_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    manager_name: str = Field(default="", max_length=200)
    manager_decided_at: datetime | None = _ts(nullable=True)
    # who took the final decision, and why (required when declining)
    decided_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )
    decided_by_name: str = Field(default="", max_length=200)
    decision_note: str = Field(default="", max_length=500)


TENANT_TABLES.extend([Kudos, PushSubscription, Nudge, PushDelivery, TrainingRequest])


class AuditEntry(SQLModel, table=True):
    """Who changed what and when: one row per L&D action, written with the change itself.

    ``actor_name`` is kept as it was then (a person may be renamed or removed later).
    """

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_org_created", "organisation_id", "created_at"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), primary_key=True, autoincrement=True)
    )
    organisation_id: int = Field(foreign_key="organisation.id", ondelete="CASCADE")
    actor_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    actor_name: str = Field(default="", max_length=200)
    action: str = Field(max_length=60)
    target_type: str = Field(default="", max_length=40)
    target_id: str = Field(default="", max_length=64)
    summary: str = Field(default="", max_length=500)
    details: dict[str, Any] = _json(dict)
    created_at: datetime = _ts()


TENANT_TABLES.append(AuditEntry)


class HotSkillSeason(SQLModel, table=True):
    """Competencies and courses that are hot skills from ``starts_on`` to ``ends_on``
    (inclusive, the learner's local days): completing such a course earns the hot-skill bonus.

    A course is hot on a day when its own ``hot_skill`` flag is set or a season covering that
    day names it or one of its competencies. Ingestion reads seasons, so a trigger bumps the
    organisation's ``config_version`` on every change (migration 0013).
    """

    __tablename__ = "hot_skill_season"
    __table_args__ = (Index("ix_hot_skill_season_org_ends", "organisation_id", "ends_on"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", ondelete="CASCADE")
    name: str = Field(max_length=120)
    starts_on: date
    ends_on: date
    competency_ids: list[int] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Integer()), nullable=False, server_default="{}"),
    )
    course_ids: list[int] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Integer()), nullable=False, server_default="{}"),
    )
    created_at: datetime = _ts()


TENANT_TABLES.append(HotSkillSeason)


class BadgeEmblem(SQLModel, table=True):
    """A badge's picture: generated from a shape, colour and icon, or an uploaded SVG/PNG
    (stored sanitised). Kept apart from ``badge_definition`` so ingestion, which reads the
    definitions, never loads the image bytes."""

    __tablename__ = "badge_emblem"

    badge_id: int = Field(foreign_key="badge_definition.id", primary_key=True, ondelete="CASCADE")
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    source: str = Field(default="generated", max_length=20)  # "generated" or "upload"
    shape: str = Field(default="circle", max_length=20)
    colour: str = Field(default="teal", max_length=20)
    icon: str = Field(default="star", max_length=20)
    media_type: str = Field(default="image/svg+xml", max_length=40)
    data: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    updated_at: datetime = _ts()


TENANT_TABLES.append(BadgeEmblem)


class SignInLink(SQLModel, table=True):
    """A one-time link that lets a person set their password and signs them in.

    ``purpose`` is ``invite`` (a new person's first sign-in) or ``reset`` (a forgotten
    password). Only the SHA-256 of the token is kept; the token itself travels in the mail.
    A link is spent when used, replaced by a newer link of the same person, or expired.
    """

    __tablename__ = "sign_in_link"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    purpose: str = Field(max_length=10)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(nullable=True)


TENANT_TABLES.append(SignInLink)


class NudgeTextVariant(SQLModel, table=True):
    """An organisation's own text of a nudge kind in one language (``backend/nudges/texts.py``).

    ``variant`` is a built-in variant's name ("a", "b", ...) when the row overrides or retires
    that built-in text, else ``v<id>`` (a variant L&D added); ``nudge.variant`` records it.
    A retired variant is no longer sent; its measurements stay.
    """

    __tablename__ = "nudge_text_variant"
    __table_args__ = (
        UniqueConstraint(
            "organisation_id", "kind", "locale", "variant", name="uq_nudge_text_variant_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", ondelete="CASCADE")
    kind: str = Field(max_length=40)
    locale: str = Field(max_length=5)
    variant: str = Field(max_length=40)
    title: str = Field(max_length=200)
    body: str = Field(max_length=500)
    retired_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


TENANT_TABLES.append(NudgeTextVariant)


class ImportJob(SQLModel, table=True):
    """One CSV import (courses or people): its outcome, and its progress while it runs.

    ``status``: rejected (some row is wrong: ``errors`` says where, nothing was imported),
    running, done, or failed (stopped by an unexpected error: nothing was imported).
    """

    __tablename__ = "import_job"
    __table_args__ = (Index("ix_import_job_org_created", "organisation_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    filename: str = Field(default="", max_length=200)
    status: str = Field(default="running", max_length=12)
    total_rows: int = 0
    processed_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # [{"row": 3, "column": "duration_minutes", "message": "..."}], the first MAX_ERRORS
    errors: list[dict[str, Any]] = _json(list)
    error_count: int = 0
    created_by_id: int | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )
    created_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)


TENANT_TABLES.append(ImportJob)


class IntakeLogEntry(SQLModel, table=True):
    """One ingestion request (xAPI, webhook, events API) and what became of each statement or
    event in it, so L&D can debug an LMS connection (``backend/learning/intake_log.py``).

    ``items`` is a compact list, one object per statement/event: ``o`` outcome, ``k`` its
    id or idempotency key, ``u`` learner and ``c`` course it resolved to, ``r`` reason,
    ``x`` XP, ``p`` a trimmed copy of what was sent (only where nothing was stored).
    Written in batches off the request path and pruned to the newest rows per organisation.
    """

    __tablename__ = "intake_log"
    __table_args__ = (Index("ix_intake_log_org_id", "organisation_id", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), primary_key=True, autoincrement=True)
    )
    organisation_id: int = Field(foreign_key="organisation.id", ondelete="CASCADE")
    received_at: datetime = _ts()
    source: str = Field(max_length=10)
    status: int
    credential: str = Field(default="", max_length=40)
    items: list[dict[str, Any]] = _json(list)


TENANT_TABLES.append(IntakeLogEntry)


class LearningMeasures(SQLModel):
    """What the insights' rollups add up per learner and period (migration 0022 keeps them
    with a statement trigger on ``learning_event``; the app never writes them). Formal:
    completion, progress, experience; informal: moments. Course minutes are horizontal (the
    course's job family is not the learner's), vertical (the same) or of unknown family
    (either missing), as the families were when the event was recorded."""

    active_events: int = 0  # events that make a day active (LearningFact.counts_as_activity)
    formal_events: int = 0
    completions: int = 0
    moments: int = 0
    minutes_formal: int = 0
    minutes_informal: int = 0
    minutes_horizontal: int = 0
    minutes_vertical: int = 0
    minutes_family_unknown: int = 0


class LearnerWeek(LearningMeasures, table=True):
    """A learner's learning in one ISO week (an insights rollup)."""

    __tablename__ = "learner_week"
    __table_args__ = (Index("ix_learner_week_org_week", "organisation_id", "week_start"),)

    # no foreign key on the organisation (see LearningEvent.organisation_id)
    organisation_id: int
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    week_start: date = Field(primary_key=True)  # the Monday


class LearnerMonth(LearningMeasures, table=True):
    """A learner's learning in one calendar month (an insights rollup)."""

    __tablename__ = "learner_month"
    __table_args__ = (Index("ix_learner_month_org_month", "organisation_id", "month_start"),)

    organisation_id: int
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    month_start: date = Field(primary_key=True)  # the first of the month


class LearnerCompetencyWeek(SQLModel, table=True):
    """A learner's learning in one competency and ISO week (an insights rollup): the event's
    own competency and its course's competencies as linked when it was recorded."""

    __tablename__ = "learner_competency_week"
    __table_args__ = (
        Index("ix_learner_competency_week_org_week", "organisation_id", "week_start"),
    )

    organisation_id: int
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    # no foreign key: every event would lock the competency's row (see migration 0011); the
    # insights join the competency, so the rows of a deleted one are not shown
    competency_id: int = Field(primary_key=True)
    week_start: date = Field(primary_key=True)
    formal_events: int = 0
    informal_events: int = 0
    minutes_formal: int = 0
    minutes_informal: int = 0


class InsightsSnapshot(SQLModel, table=True):
    """An organisation-wide insight (a ``Series``) kept for one period by the worker, for
    large organisations (``backend/insights/snapshots.py``): used only while it is fresh and
    was made for the organisation's current floor and group size."""

    __tablename__ = "insights_snapshot"

    organisation_id: int = Field(
        foreign_key="organisation.id", primary_key=True, ondelete="CASCADE"
    )
    query: str = Field(primary_key=True, max_length=40)  # the query function's name
    period_start: date = Field(primary_key=True)
    period_end: date = Field(primary_key=True)
    floor: int
    group_size: int
    computed_at: datetime = _ts()
    series: dict[str, Any] = _json(dict)


TENANT_TABLES.append(InsightsSnapshot)


class JobFamilyCompetency(SQLModel, table=True):
    """A competency L&D expects of everyone in a job family (see User.job_family): the
    recommendations suggest courses in it to whoever has not learned in it yet."""

    __tablename__ = "job_family_competency"

    organisation_id: int = Field(
        foreign_key="organisation.id", primary_key=True, ondelete="CASCADE"
    )
    job_family: str = Field(primary_key=True, max_length=80)
    competency_id: int = Field(
        foreign_key="competency.id", primary_key=True, index=True, ondelete="CASCADE"
    )


class RecommendationDismissal(SQLModel, table=True):
    """A learner's "not for me" on a recommended course: never recommended to them again,
    and its reason counts a little less for them from then on."""

    __tablename__ = "recommendation_dismissal"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    course_id: int = Field(foreign_key="course.id", primary_key=True, ondelete="CASCADE")
    organisation_id: int = Field(foreign_key="organisation.id", index=True, ondelete="CASCADE")
    # the reason the course was recommended for when it was dismissed (a RecommendationReason)
    reason: str = Field(max_length=32)
    dismissed_at: datetime = _ts()


class RecommendationShown(SQLModel, table=True):
    """The first time a course was recommended to a learner, and why: insights count how
    many of those the learner started afterwards."""

    __tablename__ = "recommendation_shown"
    __table_args__ = (Index("ix_recommendation_shown_org_shown", "organisation_id", "shown_at"),)

    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    course_id: int = Field(foreign_key="course.id", primary_key=True, ondelete="CASCADE")
    organisation_id: int = Field(foreign_key="organisation.id", ondelete="CASCADE")
    reason: str = Field(max_length=32)
    shown_at: datetime = _ts()


TENANT_TABLES.extend([JobFamilyCompetency, RecommendationDismissal, RecommendationShown])


# challenge participation counts a date range's events of the whole organisation
Index(
    "ix_learning_event_org_local_date",
    LearningEvent.__table__.c.organisation_id,  # type: ignore[attr-defined]
    LearningEvent.__table__.c.local_date,  # type: ignore[attr-defined]
    postgresql_include=["user_id", "kind", "course_id", "competency_id", "voided"],
)
# nudge effectiveness reads a period's measured nudges (not L&D's previews) from the index
Index(
    "ix_nudge_org_created",
    Nudge.__table__.c.organisation_id,  # type: ignore[attr-defined]
    Nudge.__table__.c.created_at,  # type: ignore[attr-defined]
    postgresql_include=["user_id", "kind", "variant", "sent_at", "clicked_at", "learned_at"],
    postgresql_where=text("dedupe_key NOT LIKE 'preview:%'"),
)


class XapiDocument(SQLModel, table=True):
    """A document of the xAPI State, Activity Profile or Agent Profile resource (migration
    0030): what course content (cmi5, SCORM-to-xAPI players) keeps to resume where a learner
    stopped. ``key_hash`` identifies the document (kind, activity, agent, registration,
    document id), ``scope_hash`` the set a GET without a document id lists; hashes, because
    activity IRIs and agents are too long for a B-tree key. See backend/lrs/documents.py."""

    __tablename__ = "xapi_document"
    __table_args__ = (
        UniqueConstraint("organisation_id", "key_hash", name="uq_xapi_document_org_key"),
        Index("ix_xapi_document_org_scope", "organisation_id", "scope_hash", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)  # state, activity_profile, agent_profile
    activity_id: str = Field(default="")  # "" for agent profiles
    agent_key: str = Field(default="")  # the agent's identifier, canonical; "" for activity ones
    registration: str = Field(default="", max_length=36)  # "" without a registration
    document_id: str
    key_hash: str = Field(max_length=64)
    scope_hash: str = Field(max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    content_type: str = Field(max_length=255)
    etag: str = Field(max_length=40)  # SHA-1 of the content, hex
    updated_at: datetime = _ts()


TENANT_TABLES.append(XapiDocument)


class XapiStatement(SQLModel, table=True):
    """A statement of the xAPI Statement resource (migration 0031), as the LRS returns it:
    ``document`` is its canonical JSON with ``stored``, ``authority``, ``version`` and
    ``timestamp`` filled in. The other columns are what GET /xapi/statements filters and
    orders by (``stored``, then ``id``). No foreign keys: every ingestion writes here, and a
    key's check locks the referenced row (see migration 0011). See backend/lrs/statements.py."""

    __tablename__ = "xapi_statement"
    __table_args__ = (
        UniqueConstraint("organisation_id", "statement_id", name="uq_xapi_statement_org_id"),
        # INCLUDE (migration 0033): filters tested in the index while it is read in order
        Index(
            "ix_xapi_statement_org_stored",
            "organisation_id",
            "stored",
            "id",
            postgresql_include=["voided", "actor_key", "related_agents", "related_activities"],
        ),
        Index(
            "ix_xapi_statement_org_actor",
            "organisation_id",
            "actor_key",
            "stored",
            "id",
            postgresql_include=["voided", "verb_id", "activity_id"],
        ),
        Index(
            "ix_xapi_statement_org_object_agent",
            "organisation_id",
            "object_agent_key",
            "stored",
            "id",
            postgresql_where=text("object_agent_key IS NOT NULL"),
        ),
        Index(
            "ix_xapi_statement_org_verb",
            "organisation_id",
            "verb_id",
            "stored",
            "id",
            postgresql_include=["voided"],
        ),
        Index(
            "ix_xapi_statement_org_activity",
            "organisation_id",
            "activity_id",
            "stored",
            "id",
            postgresql_include=["voided", "verb_id"],
        ),
        Index(
            "ix_xapi_statement_org_registration",
            "organisation_id",
            "registration",
            "stored",
            "id",
            postgresql_where=text("registration IS NOT NULL"),
        ),
        Index(
            "ix_xapi_statement_org_voids",
            "organisation_id",
            "voids",
            postgresql_where=text("voids IS NOT NULL"),
        ),
        # migration 0033: the related_* filters, and what StatementRefs' targets match
        Index(
            "ix_xapi_statement_related_agents",
            text("array_remove(related_agents, actor_key::text)"),  # as PostgreSQL says it
            postgresql_using="gin",
        ),
        Index("ix_xapi_statement_related_activities", "related_activities", postgresql_using="gin"),
        Index(
            "ix_xapi_statement_target_keys",
            "target_keys",
            postgresql_using="gin",
            postgresql_where=text("target_keys IS NOT NULL"),
        ),
        Index(
            "ix_xapi_statement_org_refs",
            "organisation_id",
            "stored",
            "id",
            postgresql_include=["voided", "target_keys"],
            postgresql_where=text("target_keys IS NOT NULL"),
        ),
        Index(
            "ix_xapi_statement_org_unresolved",
            "organisation_id",
            "stored",
            "id",
            postgresql_where=text(
                "target_keys IS NULL AND activity_id IS NULL AND object_agent_key IS NULL"
            ),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger(), primary_key=True, autoincrement=True)
    )
    organisation_id: int
    statement_id: uuid.UUID = Field(sa_column=Column(Uuid(), nullable=False))
    document: str  # canonical JSON, returned as it is
    fingerprint: str = Field(max_length=64)  # backend.learning.xapi's stored_fingerprint
    actor_key: str | None = None  # the actor's identifier (backend.lrs.statement_store)
    object_agent_key: str | None = None  # the object's, when it is an Agent or Group
    verb_id: str
    activity_id: str | None = None  # the object's id when it is an Activity
    registration: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid(), nullable=True))
    related_agents: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(Text()), nullable=False)
    )
    related_activities: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(Text()), nullable=False)
    )
    voided: bool = False
    # the statement id a voiding statement names (migration 0032)
    voids: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid(), nullable=True))
    # what the statement a StatementRef targets matches, set by a trigger (migration 0033)
    target_keys: list[str] | None = Field(
        default=None, sa_column=Column(ARRAY(Text()), nullable=True)
    )
    api_key_id: int | None = None
    timestamp: datetime = _ts()
    stored: datetime = _ts()


TENANT_TABLES.append(XapiStatement)


class XapiAttachment(SQLModel, table=True):
    """The data of a statement's attachment (migration 0034), sent as a part of a
    multipart/mixed statement request and kept once per organisation by its SHA-2 (hex,
    lowercase), however many statements name it. See backend/lrs/attachments.py."""

    __tablename__ = "xapi_attachment"

    organisation_id: int = Field(
        foreign_key="organisation.id", ondelete="CASCADE", primary_key=True
    )
    sha2: str = Field(max_length=128, primary_key=True)
    content_type: str
    length: int
    content: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    created_at: datetime = _ts()


TENANT_TABLES.append(XapiAttachment)


class UserSession(SQLModel, table=True):
    """A signed-in session (migration 0035): its id travels in the encrypted session cookie,
    and every signed-in request checks it is not ended, so signing out, or an admin's "sign
    out everywhere", ends every copy of the cookie on every app process
    (backend/auth/user_sessions.py). Deleting the person deletes their sessions."""

    __tablename__ = "user_session"
    __table_args__ = (Index("ix_user_session_user", "user_id", "ended_at"),)

    id: uuid.UUID = Field(sa_column=Column(Uuid(), primary_key=True))
    organisation_id: int = Field(foreign_key="organisation.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", ondelete="CASCADE")
    created_at: datetime = _ts()
    ended_at: datetime | None = _ts(nullable=True)


TENANT_TABLES.append(UserSession)
