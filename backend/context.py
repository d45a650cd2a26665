"""Process-wide objects of one app instance: settings, database engine, login limiter."""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.rate_limit import LoginRateLimiter
from backend.db.engine import make_engine, make_sessionmaker
from backend.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    login_limiter: LoginRateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.login_limiter = LoginRateLimiter(
            max_attempts=self.settings.login_attempts_per_window,
            window_seconds=self.settings.login_window_seconds,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, null_pool: bool = False) -> "AppContext":
        engine = make_engine(settings.database_url, echo=settings.sql_echo, null_pool=null_pool)
        return cls(settings=settings, engine=engine, sessionmaker=make_sessionmaker(engine))
