"""Fixtures shared by the history store's tests: a store of each kind."""
import pytest

from harness.tests import postgres


@pytest.fixture(scope="session")
def postgres_server():
    with postgres.server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_text(request, tmp_path):
    """A store that does not exist yet: a SQLite path, or an empty PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    return request.getfixturevalue("postgres_server").new_database()
