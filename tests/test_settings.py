"""Settings come from the environment; the secret key is generated in dev and required in production."""

from pathlib import Path

import pytest

from backend.settings import (
    ConfigurationError,
    base_url_problem,
    load_settings,
    served_base_url,
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in (
        "LEARNLOOP_DATABASE_URL",
        "LEARNLOOP_SECRET_KEY",
        "LEARNLOOP_SECRET_KEY_FILE",
        "LEARNLOOP_ENV",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_to_the_embedded_server_and_generates_a_dev_secret_once(
    clean_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = load_settings()
    assert first.embedded_database and first.push_in_process
    secret_file = clean_env / ".learnloop-secret"
    assert secret_file.exists() and oct(secret_file.stat().st_mode)[-3:] == "600"
    assert "generated one" in caplog.text
    assert load_settings().secret_key == first.secret_key, (
        "the generated secret is reused on the next start"
    )


def test_production_refuses_to_start_without_a_secret(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNLOOP_ENV", "production")
    with pytest.raises(ConfigurationError, match="LEARNLOOP_SECRET_KEY"):
        load_settings()
    assert not (clean_env / ".learnloop-secret").exists()


def test_production_reads_the_secret_from_a_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / "secret").write_text("s3cret-from-a-mounted-file\n")
    monkeypatch.setenv("LEARNLOOP_ENV", "production")
    monkeypatch.setenv("LEARNLOOP_SECRET_KEY_FILE", str(clean_env / "secret"))
    settings = load_settings()
    assert settings.secret_key == "s3cret-from-a-mounted-file"
    assert settings.secure_cookies is True


def test_bad_values_are_named(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNLOOP_LOGIN_ATTEMPTS", "lots")
    with pytest.raises(ConfigurationError, match="LEARNLOOP_LOGIN_ATTEMPTS"):
        load_settings()
    monkeypatch.delenv("LEARNLOOP_LOGIN_ATTEMPTS")
    monkeypatch.setenv("LEARNLOOP_ENV", "staging")
    with pytest.raises(ConfigurationError, match="dev, test or production"):
        load_settings()


def test_database_urls_are_postgresql_only(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", "postgres://app:pw@db.internal:5432/learnloop")
    settings = load_settings()
    assert settings.database_url == "postgresql+asyncpg://app:pw@db.internal:5432/learnloop"
    assert not settings.embedded_database and not settings.push_in_process
    monkeypatch.setenv("LEARNLOOP_DATABASE_URL", "sqlite+aiosqlite:///./learnloop.db")
    with pytest.raises(ConfigurationError, match="SQLite is no longer supported"):
        load_settings()


def test_serve_opens_at_the_address_it_binds_and_a_local_mismatch_is_named() -> None:
    assert served_base_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert served_base_url("0.0.0.0", 8080) == "http://localhost:8080"
    assert served_base_url("::1", 8000) == "http://[::1]:8000"
    # the demo's old default against what the server answers on
    problem = base_url_problem("http://localhost:8000", "127.0.0.1", 8000)
    assert problem and "set LEARNLOOP_BASE_URL=http://127.0.0.1:8000" in problem
    assert base_url_problem("http://127.0.0.1:8000", "127.0.0.1", 8471)
    # fine: the same address, any name on a wildcard bind, a public name behind a proxy
    assert base_url_problem("http://127.0.0.1:8000", "127.0.0.1", 8000) is None
    assert base_url_problem("http://localhost:8000", "0.0.0.0", 8000) is None
    assert base_url_problem("https://leren.polderhaven.nl", "127.0.0.1", 8000) is None
