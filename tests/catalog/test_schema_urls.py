"""Catalog URLs in messages and malformed catalog URLs: a password never reaches a message, wherever
the URL holds it, and a URL SQLAlchemy cannot use is the user's error (what, where, a fix), not a bug."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vaultline.catalog.schema import URL_HINT, CatalogUnavailable, open_catalog, safe_url
from vaultline.cli.main import app
from vaultline.errors import CatalogError

SECRET = "CatPW123"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql+psycopg://u:{SECRET}@db:5432/vl", "postgresql+psycopg://u:***@db:5432/vl"),
        (
            f"postgresql+psycopg://postgres@127.0.0.1/test?password={SECRET}&port=1",
            "postgresql+psycopg://postgres@127.0.0.1/test?password=***&port=1",
        ),
        (
            f"postgresql+psycopg://h/db?PASSWORD={SECRET}&sslpassword={SECRET}&passfile=/p&sslmode=require",
            "postgresql+psycopg://h/db?PASSWORD=***&sslpassword=***&passfile=***&sslmode=require",
        ),
        # An option not known to be harmless may be a whole connection string: its value is hidden.
        (f"mssql+pyodbc:///?odbc_connect=PWD%3D{SECRET}", "mssql+pyodbc:///?odbc_connect=***"),
        (f"postgresql://h/db?token={SECRET}&token=x", "postgresql://h/db?token=***&token=***"),
        # An unescaped '@' in the password leaves its tail in the parsed host.
        (f"postgresql+psycopg://u:p@{SECRET}@h/db", "postgresql+psycopg://u:***@***/db"),
        (f"postgresql+psycopg://u:{SECRET}@h:54x/db", "postgresql+psycopg://(rest not shown)"),
        (f"{SECRET} is no URL", "(not shown)"),
        ("sqlite:///state/catalog.db?timeout=5", "sqlite:///state/catalog.db?timeout=5"),
    ],
)  # fmt: skip
def test_safe_url_masks_every_password(url: str, shown: str) -> None:
    assert safe_url(url) == shown


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"postgresql+psycopg://u:{SECRET}@127.0.0.1:abc/test", "has a port that is not a number"),
        (f"postgresql+psycopg2://u:{SECRET}@127.0.0.1/test", "needs 'psycopg2' for 'postgresql+psycopg2'"),
        (f"postgres://u:{SECRET}@127.0.0.1/test", "names the database type 'postgres'"),
        (f"nonsense-{SECRET}", "is not a database URL"),
        ("sqlite:///catalog.db?timeout=soon", "has an option its driver cannot use"),
    ],
)
def test_a_malformed_catalog_url_is_a_catalog_error_with_a_fix(url: str, problem: str) -> None:
    with pytest.raises(CatalogError) as caught:
        open_catalog(url)
    assert problem in caught.value.message
    assert caught.value.hint == URL_HINT
    assert "postgresql+psycopg://user@host:5432/db" in URL_HINT and "sqlite:///path" in URL_HINT
    assert SECRET not in str(caught.value)


@pytest.mark.postgres
def test_a_query_string_password_is_not_printed_when_the_catalog_cannot_be_opened(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    with pytest.raises(CatalogUnavailable, match="could not be reached") as caught:
        open_catalog(f"{url}?password={SECRET}&port=1")  # port 1: nothing listens, the open fails
    assert SECRET not in str(caught.value) and "password=***" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "exit_code"),
    [
        (f"postgresql+psycopg://postgres@127.0.0.1/test?password={SECRET}&port=1", 75),  # retry later
        (f"postgresql+psycopg://u:{SECRET}@127.0.0.1:abc/test", 1),
        (f"postgresql+psycopg2://u:{SECRET}@127.0.0.1/test", 1),
    ],
)
def test_the_cli_reports_a_bad_catalog_url_without_the_password(
    url: str, exit_code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULTLINE_CATALOG_URL", url)
    (tmp_path / "state").mkdir()
    result = CliRunner().invoke(app, ["runs", "list", "--state", str(tmp_path / "state")])
    assert result.exit_code == exit_code
    assert "catalog" in result.output and "VAULTLINE_CATALOG_URL" in result.output
    assert SECRET not in result.output
    assert "a bug" not in result.output and "Traceback" not in result.output
