"""A throwaway PostgreSQL server for the history store's tests (Debian's postgresql package).

The server runs from a fresh temp folder (its data and its unix socket, no TCP port), with
password login, as the `postgres` user when the tests run as root (initdb refuses root);
it is stopped and the folder removed when the tests end, also when one fails.
A machine without PostgreSQL fails the tests that need it: ci/setup.sh installs it.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile
import uuid

BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
PASSWORD = "tcprepro-test"


class Server:
    def __init__(self, folder: pathlib.Path):
        self.folder = folder

    def url(self, database: str = "postgres", password: str = PASSWORD, user: str = "postgres") -> str:
        return f"postgresql://{user}:{password}@/{database}?host={self.folder}"

    def new_database(self) -> str:
        """A new empty database's URL."""
        import psycopg2
        name = f"t_{uuid.uuid4().hex[:12]}"
        connection = psycopg2.connect(host=str(self.folder), dbname="postgres", user="postgres", password=PASSWORD)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name}")
        finally:
            connection.close()
        return self.url(name)


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@contextlib.contextmanager
def server():
    missing = [tool for tool in ("initdb", "pg_ctl") if not (BIN / tool).is_file()]
    assert not missing, f"PostgreSQL 15 is missing ({', '.join(missing)} not in {BIN}): run ci/setup.sh"
    owner = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise AssertionError("no user postgres to run the test server as: ci/setup.sh installs postgresql") from None
        owner = "postgres"
    folder = pathlib.Path(tempfile.mkdtemp(prefix="tcprepro-pg-"))
    data = folder / "data"
    started = False
    try:
        if owner:
            shutil.chown(folder, owner)
        (folder / "pw").write_text(PASSWORD + "\n")
        if owner:
            shutil.chown(folder / "pw", owner)
        subprocess.run(_as_owner([str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
                                  f"--pwfile={folder / 'pw'}", "--no-sync", "-E", "UTF8"], owner),
                       check=True, capture_output=True, text=True, timeout=120)
        options = f"-k {folder} -c listen_addresses='' -c fsync=off"
        subprocess.run(_as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
                                  "-w", "-t", "60", "start"], owner), check=True, capture_output=True, text=True,
                       timeout=120)
        started = True
        yield Server(folder)
    finally:
        if started:
            subprocess.run(_as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], owner),
                           capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
