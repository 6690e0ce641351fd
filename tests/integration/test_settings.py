"""Settings from files (``<VARIABLE>_FILE``, the official images' secrets convention) and database
passwords with any characters."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import ValidationError

from citywatch.settings import Settings
from tools.localservices import PostgresServer

AWKWARD = "p@ss/w:rd%?#&= x"


def test_a_variable_may_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "device").write_text("device-secret-from-a-file\n")
    (tmp_path / "token").write_text("token-from-a-file")
    monkeypatch.setenv("CITYWATCH_DEVICE_SECRET_FILE", str(tmp_path / "device"))
    monkeypatch.setenv("CITYWATCH_API_TOKEN_SECRET_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("CITYWATCH_INGEST_METRICS_PORT_FILE", str(tmp_path / "port"))
    (tmp_path / "port").write_text("9200\n")
    s = Settings()
    assert s.device_secret.get_secret_value() == "device-secret-from-a-file"  # the final newline dropped
    assert s.api.token_secret.get_secret_value() == "token-from-a-file"
    assert s.ingest.metrics_port == 9200  # typed like the variable itself


def test_a_variable_and_its_file_together_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s").write_text("one")
    monkeypatch.setenv("CITYWATCH_DEVICE_SECRET", "other")
    monkeypatch.setenv("CITYWATCH_DEVICE_SECRET_FILE", str(tmp_path / "s"))
    with pytest.raises(ValueError, match="both CITYWATCH_DEVICE_SECRET and CITYWATCH_DEVICE_SECRET_FILE"):
        Settings()


def test_a_missing_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYWATCH_DB_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(ValueError, match=r"CITYWATCH_DB_PASSWORD_FILE=.*absent: No such file"):
        Settings()


def test_a_password_with_any_characters_reaches_libpq_intact(
    pg: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS awkward")
        conn.execute(f"CREATE ROLE awkward LOGIN PASSWORD '{AWKWARD}'")
    (tmp_path / "pw").write_text(AWKWARD + "\n")
    monkeypatch.setenv("CITYWATCH_DB_URL", f"postgresql://awkward@127.0.0.1:{pg.port}/postgres")
    monkeypatch.setenv("CITYWATCH_DB_PASSWORD_FILE", str(tmp_path / "pw"))
    s = Settings()
    assert conninfo_to_dict(s.db.url)["password"] == AWKWARD
    # (the test cluster trusts local logins, so this proves what libpq was given, not the server's check)
    with psycopg.connect(s.db.url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("awkward",)
        assert conn.info.password == AWKWARD


def test_a_password_in_the_url_and_apart_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYWATCH_DB_URL", "postgresql://u:one@h/db")
    monkeypatch.setenv("CITYWATCH_DB_PASSWORD", "two")
    with pytest.raises(ValidationError, match="set one"):
        Settings()
