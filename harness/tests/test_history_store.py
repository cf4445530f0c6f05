"""The history store on SQLite and on a real PostgreSQL server: adding, idempotence,
two writers at once, migrations, and bad input (one line, exit 2, nothing written)."""
import os
import pathlib
import sqlite3
import subprocess

import pytest
import sqlalchemy as sa

from cli.history import ingest, load, store
from harness.tests.history_data import entry, write_run
from reports.load import load_result_sets

REPO = pathlib.Path(__file__).resolve().parents[2]


def tcprepro(*args, timeout=300):
    return subprocess.run([str(REPO / "tcprepro"), *args], capture_output=True, text=True, timeout=timeout)


def counted(text):
    opened = store.open_store(text, create=False)
    try:
        with opened.read() as connection:
            return load.counts(connection)
    finally:
        opened.close()


RESULTS = [entry("S1a/ipv4", {"state": "ESTABLISHED", "wait_ms": 0.5}, judged={"state": True}),
           entry("S1a/ipv6", {"state": "ESTABLISHED"}, judged={"state": True}),
           entry("S2a/ipv4", {"ports": [1, 2, 3]})]


def test_add_stores_runs_results_and_observations_and_twice_is_once(store_text, tmp_path):
    run = write_run(tmp_path / "runs", "20261201-0100-1", "host", RESULTS)
    first = tcprepro("history", "add", "--store", store_text, str(run))
    assert first.returncode == 0, first.stderr
    assert "3 results added" in first.stdout
    again = tcprepro("history", "add", "--store", store_text, str(run))
    assert again.returncode == 0, again.stderr
    assert "0 results added, 3 already there" in again.stdout
    assert counted(store_text) == {"runs": 1, "results": 3, "observations": 4}
    opened = store.open_store(store_text, create=False)
    with opened.read() as connection:
        samples = load.samples(connection)
    opened.close()
    first_sample = samples[0]
    assert first_sample.entry["observations"] == {"state": "ESTABLISHED", "wait_ms": 0.5}
    assert first_sample.judged == {"state": True}
    assert pathlib.Path(first_sample.entry["evidence"][0]["path"]).is_file()  # absolute, resolves
    assert first_sample.run.kernel_text == "host 6.18.44 (6.18.44-test)"


def test_repeated_draws_are_samples_of_their_own(store_text, tmp_path):
    repeats = {"runs": 3, "stable": False, "outcomes": ["passed"] * 3,
               "verdicts": ["as_expected", "unexpected", "as_expected"],
               "observations": {"state": {"stable": True, "value": "ESTABLISHED", "judged": True,
                                          "judgement_stable": True},
                                "wait_ms": {"stable": False, "values": [0.5, 1.5, 0.7], "judged": True,
                                            "judgement_stable": False}}}
    result = entry("S1a/ipv4", {"state": "ESTABLISHED", "wait_ms": 0.5}, judged={"state": True, "wait_ms": True},
                   repeats=repeats)
    run = write_run(tmp_path / "runs", "r1", "host", [result])
    opened = store.open_store(store_text, create=True)
    (added,) = ingest.add(opened, load_result_sets([run]))
    assert added.results == 3
    with opened.read() as connection:
        samples = load.samples(connection)
    opened.close()
    assert [s.draw for s in samples] == [1, 2, 3]
    assert [s.entry["observations"]["wait_ms"] for s in samples] == [0.5, 1.5, 0.7]
    assert [s.entry["expectation"]["verdict"] for s in samples] == ["as_expected", "unexpected", "as_expected"]
    assert samples[1].judged == {"state": True, "wait_ms": None}  # not recorded per draw
    assert samples[1].entry["gate"]["status"] == "changed" and samples[1].entry["claim"]["verdict"] == "holds"


def test_two_adds_at_once_lose_nothing(store_text, tmp_path):
    """Two processes add 12 runs each, 4 of them the same, into one store at the same time."""
    for name in ("a", "b"):
        for n in range(12):
            shared = n < 4
            run_id = f"shared-{n}" if shared else f"{name}-{n}"
            write_run(tmp_path / name, run_id, "host", RESULTS, minute=n)
    tcprepro("history", "add", "--store", store_text, str(tmp_path / "a" / "shared-0"))  # the store exists first
    processes = [subprocess.Popen([str(REPO / "tcprepro"), "history", "add", "--store", store_text,
                                   *sorted(str(p) for p in (tmp_path / name).iterdir())],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert counted(store_text) == {"runs": 20, "results": 60, "observations": 80}


def test_two_first_adds_at_once_make_one_store(store_text, tmp_path):
    for name in ("a", "b"):
        write_run(tmp_path / name, f"{name}-1", "host", RESULTS)
    processes = [subprocess.Popen([str(REPO / "tcprepro"), "history", "add", "--store", store_text,
                                   str(tmp_path / name / f"{name}-1")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert counted(store_text)["runs"] == 2


def test_an_older_store_is_migrated_and_a_newer_one_refused(store_text, tmp_path, monkeypatch):
    engine = sa.create_engine(store_text if "://" in store_text else f"sqlite:///{store_text}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE tcprepro_store (name TEXT PRIMARY KEY, version INTEGER NOT NULL)"))
        connection.execute(sa.text("INSERT INTO tcprepro_store VALUES ('tcprepro-history', 0)"))
    engine.dispose()
    store.open_store(store_text, create=False).close()
    assert counted(store_text)["runs"] == 0
    monkeypatch.setattr(store, "VERSION", 0)
    with pytest.raises(store.StoreError, match="schema version 1, this tcprepro knows up to 0"):
        store.open_store(store_text, create=True)


def _no_tables(text):
    engine = sa.create_engine(text if "://" in text else f"sqlite:///{text}")
    try:
        with engine.connect() as connection:
            return sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()


def _one_line_exit_2(result):
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tcprepro: error: "), result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_without_results_writes_nothing(store_text, tmp_path):
    (tmp_path / "empty").mkdir()
    result = tcprepro("history", "add", "--store", store_text, str(tmp_path / "empty"))
    _one_line_exit_2(result)
    assert "no results.json" in result.stderr
    assert not os.path.exists(store_text) if "://" not in store_text else _no_tables(store_text) == []


def test_reading_a_store_that_does_not_exist_creates_nothing(store_text):
    for command in ("flakes", "changes"):
        result = tcprepro("history", command, "--store", store_text)
        _one_line_exit_2(result)
    assert not os.path.exists(store_text) if "://" not in store_text else _no_tables(store_text) == []


def test_not_a_tcprepro_store(tmp_path, postgres_server):
    run = write_run(tmp_path / "runs", "r1", "host", RESULTS)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database, " * 100)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE customers (id INTEGER)").connection.commit()
    database = postgres_server.new_database()
    engine = sa.create_engine(database)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE customers (id INTEGER)"))
    engine.dispose()
    for target, why in [(text_file, "not a tcprepro store"), (other, "not a tcprepro store: it holds other tables"),
                        (database, "not a tcprepro store: it holds other tables"), (tmp_path, "is a folder")]:
        result = tcprepro("history", "add", "--store", str(target), str(run))
        _one_line_exit_2(result)
        assert why in result.stderr
    assert text_file.read_text() == "not a database, " * 100
    assert _no_tables(database) == ["customers"]


def test_an_unreachable_server_and_a_refused_login(tmp_path, postgres_server):
    run = write_run(tmp_path / "runs", "r1", "host", RESULTS)
    database = postgres_server.new_database()
    nowhere = f"postgresql://postgres:x@/db?host={tmp_path / 'no-server'}"
    refused = database.replace(":tcprepro-test@", ":wrong@")
    for url, why in [(nowhere, "No such file or directory"), (refused, "password authentication failed")]:
        result = tcprepro("history", "add", "--store", url, str(run))
        _one_line_exit_2(result)
        assert why in result.stderr and "wrong" not in result.stderr  # the password is not printed
    assert _no_tables(database) == []
    result = tcprepro("history", "flakes", "--store", "mysql://u@h/db")
    _one_line_exit_2(result)
