"""The history store: one schema on SQLite (a path) or PostgreSQL (a URL), through SQLAlchemy Core.

Tables (version 1):

    tcprepro_store  one row: the store's name and schema version (what makes a database a store)
    runs            one per target of a run (a kernel under a configuration), unique by
                    (run id, target, configuration): adding a folder twice adds nothing
    results         one per result and draw (a --repeat run has draws 2..N), unique per run
    observations    one per result and observation key: the value as canonical JSON, and
                    whether an expectation judged it and whether it met it

Evidence stays where the run wrote it: results hold absolute paths to it.
A migration is a function from version N-1 to N, applied in one transaction under a lock
(SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so two first writers cannot both
create or upgrade the store.
"""
from __future__ import annotations

import contextlib
import pathlib
import sqlite3

import sqlalchemy as sa
from sqlalchemy import event

STORE_NAME = "tcprepro-history"
VERSION = 1
_ADVISORY_LOCK = 0x7463_7072  # "tcpr": serialises creating and migrating a PostgreSQL store
_BUSY_SECONDS = 120  # a SQLite writer waits this long for another one's transaction

metadata = sa.MetaData()

store_table = sa.Table(
    "tcprepro_store", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("configuration", sa.Text, nullable=False),
    sa.Column("sysctls", sa.Text, nullable=False),  # canonical JSON of the configuration's values
    sa.Column("started", sa.Text),
    sa.Column("finished", sa.Text),
    sa.Column("revision", sa.Text),
    sa.Column("selection", sa.Text),  # the run's -k, or null (every result)
    sa.Column("repeat", sa.Integer, nullable=False),
    sa.Column("accelerator", sa.Text),
    sa.Column("release", sa.Text, nullable=False),
    sa.Column("kernel_version", sa.Text, nullable=False),
    sa.Column("upstream", sa.Text),
    sa.Column("machine", sa.Text),
    sa.Column("packages", sa.Text, nullable=False),  # JSON list of Debian name=version
    sa.Column("folder", sa.Text, nullable=False),  # the target folder it was added from
    sa.Column("added", sa.Text, nullable=False),
    sa.UniqueConstraint("run_id", "target", "configuration", name="runs_identity"),
)

results = sa.Table(
    "results", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("result_id", sa.Text, nullable=False),
    sa.Column("draw", sa.Integer, nullable=False),
    sa.Column("scenario", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("verdict", sa.Text),  # expectation verdict
    sa.Column("claim", sa.Text),  # claim verdict (draw 1 only)
    sa.Column("gate", sa.Text),  # gate status (draw 1 only)
    sa.Column("duration", sa.Float),
    sa.Column("expectation", sa.Text, nullable=False),  # JSON: kernels, source, applied, mismatches, note
    sa.Column("key_observations", sa.Text, nullable=False),  # JSON list
    sa.Column("evidence", sa.Text, nullable=False),  # JSON list of {kind, path (absolute), description}
    sa.Column("log", sa.Text),
    sa.UniqueConstraint("run", "result_id", "draw", name="results_identity"),
)
sa.Index("results_by_id", results.c.result_id)

observations = sa.Table(
    "observations", metadata,
    sa.Column("result", sa.Integer, sa.ForeignKey("results.id"), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # canonical JSON
    sa.Column("judged", sa.Boolean, nullable=False),
    sa.Column("met", sa.Boolean),  # null: not judged, or not known (draws 2..N)
)


class StoreError(Exception):
    """A store that cannot be used: printed as one line, exit 2."""


def _create_v1(connection) -> None:
    metadata.create_all(connection, tables=[runs, results, observations])


# MIGRATIONS[n - 1] takes a store from version n - 1 to n (0: an empty database).
MIGRATIONS = [_create_v1]
assert len(MIGRATIONS) == VERSION


def is_url(text: str) -> bool:
    return "://" in text


def describe(text: str) -> str:
    """The store as it may be printed: a URL without its password."""
    if is_url(text):
        try:
            return sa.engine.make_url(text).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            return text.split("@")[-1]
    return text


def _engine(text: str) -> sa.engine.Engine:
    if is_url(text):
        try:
            url = sa.engine.make_url(text)
        except sa.exc.ArgumentError:
            raise StoreError(f"--store {text!r}: not a database URL; give postgresql://USER@HOST/DB or a file path") from None
        if url.get_backend_name() != "postgresql":
            raise StoreError(f"--store {describe(text)}: only postgresql:// URLs (or a SQLite file path) are stores")
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg2")
        return sa.create_engine(url, future=True, pool_pre_ping=False, connect_args={"connect_timeout": 10})
    engine = sa.create_engine(f"sqlite:///{text}", future=True, connect_args={"timeout": _BUSY_SECONDS})

    # pysqlite opens transactions lazily and never for DDL; take the write lock at BEGIN instead,
    # so two writers queue (busy timeout) rather than fail on a lock upgrade.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.info.get("write") else "BEGIN")

    return engine


class Store:
    """An open store; `write()` and `read()` give a connection inside one transaction."""

    def __init__(self, text: str, engine: sa.engine.Engine):
        self.text = text
        self.engine = engine
        self.dialect = engine.dialect.name

    def __str__(self) -> str:
        return describe(self.text)

    @contextlib.contextmanager
    def write(self):
        with self._connect() as connection:
            connection.info["write"] = True
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def read(self):
        with self._connect() as connection:
            connection.info["write"] = False
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def _connect(self):
        try:
            with self.engine.connect() as connection:
                yield connection
        except sa.exc.OperationalError as error:
            raise StoreError(f"store {self}: {_first_line(error)}") from None

    def close(self) -> None:
        self.engine.dispose()


def _first_line(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__


def open_store(text: str, create: bool) -> Store:
    """The store at text (a path or a postgresql:// URL), at the current version.
    create: make it when the path does not exist or the database is empty (`history add`);
    otherwise a missing store is an error and nothing is written."""
    if not is_url(text):
        path = pathlib.Path(text)
        if path.is_dir():
            raise StoreError(f"--store {text} is a folder; give a file path (e.g. {path / 'history.sqlite'}) or a URL")
        if not path.exists():
            if not create:
                raise StoreError(f"no store at {text}: add runs to it first (./tcprepro history add --store {text} DIR)")
            if not path.parent.is_dir():
                raise StoreError(f"--store {text}: folder {path.parent} does not exist; make it or choose another path")
    store = Store(text, _engine(text))
    try:
        _check_and_migrate(store, create)
    except BaseException:
        store.close()
        raise
    return store


def _check_and_migrate(store: Store, create: bool) -> None:
    try:
        version = _version(store)
        if version == VERSION:
            return
        if version is None and not create:
            raise StoreError(f"store {store} is empty: add runs to it first (./tcprepro history add)")
        if version is not None and version > VERSION:
            raise StoreError(f"store {store} has schema version {version}, this tcprepro knows up to {VERSION}: "
                             "use a newer tcprepro")
        with store.write() as connection:
            if store.dialect == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
            version = _version_in(connection, store)  # again, under the lock: another writer may have done it
            if version is None:
                connection.execute(sa.text("CREATE TABLE tcprepro_store (name TEXT PRIMARY KEY, version INTEGER NOT NULL)"))
                connection.execute(store_table.insert().values(name=STORE_NAME, version=0))
                version = 0
            for migration in MIGRATIONS[version:]:
                migration(connection)
            connection.execute(store_table.update().values(version=VERSION))
    except sa.exc.DatabaseError as error:  # e.g. a file that is not a SQLite database
        raise StoreError(f"--store {store}: not a tcprepro store ({_first_line(error)}); "
                         "give the file or database `history add` made") from None
    except sqlite3.Error as error:
        raise StoreError(f"--store {store}: {error}") from None


def _version(store: Store) -> int | None:
    with store.read() as connection:
        return _version_in(connection, store)


def _version_in(connection, store: Store) -> int | None:
    """The schema version; None for an empty database. A database with other tables
    and no tcprepro_store is someone else's: refused."""
    tables = set(sa.inspect(connection).get_table_names())
    if "tcprepro_store" not in tables:
        if tables:
            raise StoreError(f"--store {store}: not a tcprepro store: it holds other tables ({', '.join(sorted(tables)[:4])}); "
                             "give a new file or an empty database")
        return None
    row = connection.execute(sa.select(store_table.c.name, store_table.c.version)).first()
    if row is None or row.name != STORE_NAME:
        raise StoreError(f"--store {store}: not a tcprepro store: its tcprepro_store table names another store; give a new file or database")
    return row.version
