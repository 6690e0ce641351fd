"""An environment variable set to the empty string is unset: every setting keeps its default (compose
files pass ``${VAR:-}``, and a crash on an empty port or path helps nobody)."""

from __future__ import annotations

import pytest
from pydantic_settings import BaseSettings

from citywatch.settings import DatabaseSettings
from tests.support import setting_variables

VARIABLES = setting_variables()


@pytest.mark.parametrize(("cls", "name", "env"), VARIABLES, ids=[v[2] for v in VARIABLES])
def test_an_empty_variable_is_unset(
    cls: type[BaseSettings], name: str, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = getattr(cls(), name)
    monkeypatch.setenv(env, "")
    assert getattr(cls(), name) == default


def test_an_empty_variable_beside_its_file_is_the_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "pw"
    secret.write_text("from-the-file\n")
    monkeypatch.setenv("CITYWATCH_DB_PASSWORD", "")
    monkeypatch.setenv("CITYWATCH_DB_PASSWORD_FILE", str(secret))
    assert ":from-the-file@" in DatabaseSettings().url  # (the password goes into the URL)
    assert len(VARIABLES) > 50  # every section's variables were tried above
