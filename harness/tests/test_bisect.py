"""`./tcprepro bisect`: the engine, the predicates, and every axis and exit status through the
command line, on the stand-in kernel tree (fake_kernel/, built for real by kernel_build) with a
stand-in for the run (fake_bisect_run.py reads the observation from the built kernel)."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from harness.bisect import engine, predicate

HERE = pathlib.Path(__file__).parent
REPO = HERE.parents[1]
RESULT = "S1a/ipv4_loopback"

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="bisect needs root")


# ---- the engine -----------------------------------------------------------------------------

def walk(count, first_bad, skipped=()):
    """The steps the engine takes on a change at `first_bad`; the outcome."""
    bisection, taken = engine.Bisection(count), []
    while (index := bisection.next_step()) is not None:
        taken.append(index)
        verdict = engine.SKIP if index in skipped else engine.GOOD if index < first_bad else engine.BAD
        bisection.record(index, verdict)
    return taken, bisection.outcome()


def test_ends_first_then_the_middle_as_git_bisect_does():
    taken, outcome = walk(17, first_bad=11)
    assert taken[:3] == [0, 16, 8]
    assert (outcome.status, outcome.last_good, outcome.first_bad) == ("found", 10, 11)
    assert len(taken) == 2 + 4  # log2 of the 15 steps between, rounded up


def test_every_first_bad_is_found_in_log2_steps():
    for first_bad in range(1, 12):
        taken, outcome = walk(12, first_bad)
        assert (outcome.status, outcome.first_bad) == ("found", first_bad)
        assert len(taken) <= 2 + 4


def test_a_skipped_step_gives_way_to_its_neighbour_and_inconclusive_names_the_candidates():
    taken, outcome = walk(9, first_bad=5, skipped={4})
    assert taken[:3] == [0, 8, 4] and taken[3] in (3, 5)
    assert outcome.status == "inconclusive" and outcome.candidates == (4, 5) and outcome.last_good == 3
    taken, outcome = walk(9, first_bad=6, skipped={4})
    assert (outcome.status, outcome.first_bad) == ("found", 6)


def test_steps_left_counts_down():
    bisection = engine.Bisection(33)
    assert bisection.steps_left() == 2 + 5
    bisection.record(0, engine.GOOD)
    bisection.record(32, engine.BAD)
    assert bisection.steps_left() == 5


# ---- predicates -----------------------------------------------------------------------------

def test_when_is_a_small_language_not_python():
    tree = predicate.parse_when("reuse_wait_ms >= 900 and state in ['ESTABLISHED', 'CLOSE'] or not reused")
    assert predicate.evaluate(tree, {"reuse_wait_ms": 950, "state": "CLOSE", "reused": True}) is True
    assert predicate.evaluate(tree, {"reuse_wait_ms": 10, "state": "CLOSE", "reused": True}) is False
    assert predicate.evaluate(predicate.parse_when("missing > 3"), {}) is False  # none against a number
    for unsafe in ("__import__('os').system('true')", "x.y", "[a for a in b]", "x[0]", "lambda: 1"):
        with pytest.raises(predicate.PredicateError, match="not allowed"):
            predicate.parse_when(unsafe)


def test_draws_come_from_the_repeats_block(tmp_path):
    document = {"results": [{"id": "A/b", "outcome": "passed", "observations": {"x": 1, "y": 5},
                             "expectation": {"applied": [{"observations": ["x"]}]},
                             "repeats": {"runs": 3, "outcomes": ["passed", "error", "passed"],
                                         "observations": {"x": {"stable": True, "value": 1},
                                                          "y": {"stable": False, "values": [5, None, 7]}}}}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    assert predicate.draws(path, "A/b") == [{"x": 1, "y": 5}, None, {"x": 1, "y": 7}]
    assert predicate.judged_names(path, "A/b") == {"x"}
    assert predicate.stable_names(predicate.draws(path, "A/b"), {"x", "y"}) == ["x"]


# ---- through the command line ---------------------------------------------------------------

@pytest.fixture
def env(tmp_path):
    calls = tmp_path / "calls"
    calls.write_text("")
    return {**os.environ, "TCPREPRO_CACHE": str(tmp_path / "cache"),
            "TCPREPRO_BISECT_RUN": f"/usr/bin/python3 {HERE / 'fake_bisect_run.py'}",
            "FAKE_CALLS": str(calls), "FAKE_STARTED": str(tmp_path / "started")}


def calls(env) -> list[str]:
    return pathlib.Path(env["FAKE_CALLS"]).read_text().split()


def bisect(*argv, env, **kwargs):
    return subprocess.run([str(REPO / "tcprepro"), "bisect", *map(str, argv)], capture_output=True, text=True,
                          env=env, **kwargs)


def series(tmp_path, values, broken=None):
    """Patches that each set port_offset's return value (the observation) in turn."""
    patches, old = [], 1
    folder = tmp_path / "series"
    folder.mkdir()
    for number, new in enumerate(values, 1):
        path = folder / f"{number:04d}-step{number}.patch"
        body = (f"--- a/src/secure_seq.c\n+++ b/src/secure_seq.c\n@@ -1 +1 @@\n-int secret(void) {{ return {number + 1}; }}\n"
                f"+int secret(void) {{ return {number + 2}; }}\n")
        if new != old:
            body += (f"--- a/src/inet_hashtables.c\n+++ b/src/inet_hashtables.c\n@@ -1 +1 @@\n"
                     f"-int port_offset(void) {{ return {old}; }}\n+int port_offset(void) {{ return {new}; }}\n")
        path.write_text(f"Revert \"commit {number}\"\n\n" + body)
        patches.append(path)
        old = new
    return folder


@pytest.fixture
def tree(tmp_path):
    copy = tmp_path / "linux"
    shutil.copytree(HERE / "fake_kernel", copy)
    return copy


@root_only
def test_series_axis_names_the_patch(tmp_path, tree, env):
    folder = series(tmp_path, [1, 1, 1, 7, 7, 7])
    out = tmp_path / "b"
    done = bisect("--from", tree, "--series", folder, "-k", RESULT, "--observation", "port_offset",
                  "--repeat", 2, "--out", out, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "first bad: patch 0004-step4.patch (Revert \"commit 4\")" in done.stdout
    assert "last good: patch 0003-step3.patch" in done.stdout
    assert "GOOD the source without the series: observation port_offset = 1" in done.stdout
    state = json.loads((out / "bisect.json").read_text())
    assert state["status"] == "found" and len(state["order"]) <= 2 + 3
    assert "kernels = \"<VERSION\"" in (out / "answer.md").read_text()
    assert "0004-step4.patch" in (out / "answer.md").read_text() and "0004-step4.patch" in (out / "answer.html").read_text()
    assert "| port_offset | 1 | 7 |" in (out / "answer.md").read_text()
    log = bisect("--log", out, env=env)
    assert log.returncode == 0 and "0004-step4.patch" in log.stdout and "bad" in log.stdout
    # A second bisect over the same series: every kernel comes from the cache.
    again = bisect("--from", tree, "--series", *sorted(folder.iterdir()), "-k", RESULT, "--observation",
                   "port_offset", "--repeat", 2, "--out", tmp_path / "b2", env=env)
    assert again.returncode == 0 and again.stdout.count("built in") == 0 and "cached" in again.stdout


@root_only
def test_default_predicate_is_the_judged_observations(tmp_path, tree, env):
    folder = series(tmp_path, [1, 3])
    done = bisect("--from", tree, "--series", folder, "-k", RESULT, "--out", tmp_path / "b", env=env)
    assert done.returncode == 0, done.stderr
    assert "judged observations port_offset = {\"port_offset\": 1}" in done.stdout  # elapsed_ms varies: left out


def git_tree(tmp_path, values, broken_at):
    """A git repository of the stand-in tree, one commit per value; the commit at `broken_at` does not build."""
    repo = tmp_path / "repo"
    shutil.copytree(HERE / "fake_kernel", repo)
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True, text=True)
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    for number, value in enumerate(values, 1):
        (repo / "src" / "inet_hashtables.c").write_text(f"int port_offset(void) {{ return {value}; }}\n")
        extra = repo / "src" / "broken.c"
        if number == broken_at:
            extra.write_text("#error this commit does not build\n")
        elif extra.exists():
            extra.unlink()
        git("add", "-A")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", f"change {number}")
    return repo, git


@root_only
def test_git_axis_names_the_commit_and_skips_one_that_does_not_build(tmp_path, env):
    repo, git = git_tree(tmp_path, [1, 1, 1, 1, 5, 5, 5, 5], broken_at=3)
    before = git("status", "--porcelain").stdout + git("rev-parse", "HEAD").stdout
    done = bisect("--tree", repo, "HEAD~8", "HEAD", "-k", RESULT, "--observation", "port_offset", "--repeat", 1,
                  "--out", tmp_path / "b", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    fifth = git("rev-parse", "HEAD~3").stdout.strip()
    assert f"first bad: commit {fifth[:12]} \"change 5\"" in done.stdout
    state = json.loads((tmp_path / "b" / "bisect.json").read_text())
    skipped = [state["steps"][int(i)]["subject"] for i, r in state["judged"].items() if r["verdict"] == "skip"]
    assert skipped in ([], ["change 3"])
    assert git("status", "--porcelain").stdout + git("rev-parse", "HEAD").stdout == before  # the tree is untouched
    # The broken commit at the boundary: inconclusive, exit 4, both candidates named.
    repo2 = tmp_path / "two"
    repo2.mkdir()
    repo, git = git_tree(repo2, [1, 1, 4, 4], broken_at=3)
    done = bisect("--tree", repo, "HEAD~4", "HEAD", "-k", RESULT, "--observation", "port_offset", "--repeat", 1,
                  "--out", tmp_path / "b2", env=env)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "inconclusive" in done.stdout and "change 3" in done.stdout and "change 4" in done.stdout
    assert "did not build" in bisect("--log", tmp_path / "b2", env=env).stdout


@root_only
def test_debian_axis_in_process(tmp_path, monkeypatch, capsys):
    from cli import main as cli
    from harness.bisect import axes
    monkeypatch.setenv("TCPREPRO_BISECT_RUN", f"/usr/bin/python3 {HERE / 'fake_bisect_run.py'}")
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls"))
    monkeypatch.setenv("FAKE_FLIP", "6.1.176")
    held = {"bullseye": ["5.10.218-1", "5.10.262-1"], "bookworm": ["6.1.170-3", "6.1.176-1", "6.1.187-1"],
            "bookworm-backports": ["6.12.10-1~bpo12+1"], "sid": ["7.2.1-1"], "trixie": ["6.12.10-1~bpo12+1"]}
    monkeypatch.setattr(axes, "_suite_versions", lambda suite, flavour, log: held.get(suite, []))
    monkeypatch.setattr(axes, "_resolved_version", lambda spec, log: held[spec.suite][-1])
    code = cli.main(["bisect", "debian:bullseye", "debian:sid", "-k", RESULT, "--observation", "port_offset",
                     "--repeat", "2", "--out", str(tmp_path / "b")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "first bad: Debian package version 6.1.176-1 (debian:bookworm=6.1.176-1)" in printed
    assert "last good: Debian package version 6.1.170-3 (debian:bookworm=6.1.170-3)" in printed
    state = json.loads((tmp_path / "b" / "bisect.json").read_text())
    assert [s["version"] for s in state["steps"]] == ["5.10.262-1", "6.1.170-3", "6.1.176-1", "6.1.187-1",
                                                      "6.12.10-1~bpo12+1", "7.2.1-1"]
    assert "two adjacent packages, 6.1.170-3 and 6.1.176-1" in (tmp_path / "b" / "answer.md").read_text()
    assert "kernels = \">=6.1.176\"" in (tmp_path / "b" / "answer.md").read_text()


@root_only
def test_weak_steps_are_drawn_again_then_skipped(tmp_path, tree, env):
    folder = series(tmp_path, [1, 1, 7, 7])
    done = bisect("--from", tree, "--series", folder, "-k", RESULT, "--observation", "port_offset",
                  "--repeat", 2, "--out", tmp_path / "b", env={**env, "FAKE_WEAK": "prefix-3"})
    assert done.returncode == 4, done.stdout + done.stderr
    assert "draws disagree (7, 1): 2 more" in done.stdout
    state = json.loads((tmp_path / "b" / "bisect.json").read_text())
    weak = state["judged"]["3"]
    assert weak["verdict"] == "weak" and weak["values"] == [7, 1, 7, 1] and len(weak["runs"]) == 2
    assert state["outcome"]["candidates"] == [3, 4]


@root_only
def test_bad_input_is_one_line_and_exit_2(tmp_path, tree, env):
    same = series(tmp_path, [1, 1])
    cases = [
        (["--from", tree, "--series", same, "-k", RESULT, "--observation", "port_offset"],
         "GOOD and BAD do not differ on observation port_offset (both 1); nothing to bisect"),
        (["--from", tree, "--series", same, "-k", "S1a/nonsense"], "-k S1a/nonsense: not a result id"),
        (["--tree", tmp_path, "HEAD~1", "HEAD", "-k", RESULT], "not a git repository"),
        (["--from", tree, "--series", same, "-k", RESULT, "--when", "__import__('os')"], "Call is not allowed"),
    ]
    stale = tmp_path / "stale.patch"
    stale.write_text("--- a/src/inet_hashtables.c\n+++ b/src/inet_hashtables.c\n@@ -1 +1 @@\n-int nothing;\n+int x;\n")
    cases.append((["--from", tree, "--series", stale, "-k", RESULT],
                  "--series " + str(stale) + ": does not apply to this source: Hunk #1 FAILED"))
    for number, (argv, message) in enumerate(cases):
        done = bisect(*argv, "--out", tmp_path / f"bad{number}", env=env)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert done.stderr.startswith("tcprepro: error: ") and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


@root_only
def test_machinery_is_exit_3(tmp_path, tree, env):
    done = bisect("--from", tree, "--series", series(tmp_path, [1, 4]), "-k", RESULT, "--out", tmp_path / "b",
                  env={**env, "FAKE_CANNOT_RUN": "1"})
    assert done.returncode == 3 and "cannot work on this machine" in done.stderr


def _wait_for(path, process):
    deadline = time.monotonic() + 600  # a loaded CI machine
    while not path.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the bisect did not reach the step"
        time.sleep(0.05)


@root_only
def test_resume_after_a_kill_and_after_ctrl_c(tmp_path, tree, env):
    folder = series(tmp_path, [1, 1, 1, 1, 1, 9, 9, 9])
    out = tmp_path / "b"
    argv = [str(REPO / "tcprepro"), "bisect", "--from", str(tree), "--series", str(folder), "-k", RESULT,
            "--observation", "port_offset", "--repeat", "1", "--out", str(out)]
    # Killed (SIGKILL) while the first step between GOOD and BAD runs.
    process = subprocess.Popen(argv, env={**env, "FAKE_HANG": "prefix-4"}, stdout=subprocess.DEVNULL)
    _wait_for(pathlib.Path(env["FAKE_STARTED"]), process)
    process.kill()
    process.wait()
    assert calls(env) == ["prefix-0", "prefix-8", "prefix-4"]
    # Interrupted (SIGINT) at the same step on resume: exit 130, resumable.
    pathlib.Path(env["FAKE_STARTED"]).unlink()
    process = subprocess.Popen([str(REPO / "tcprepro"), "bisect", "--resume", str(out)],
                               env={**env, "FAKE_HANG": "prefix-4"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    _wait_for(pathlib.Path(env["FAKE_STARTED"]), process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 130 and f"bisect --resume {out}" in stderr
    assert json.loads((out / "bisect.json").read_text())["status"] == "interrupted"
    done = bisect("--resume", out, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "first bad: patch 0006-step6.patch" in done.stdout
    assert calls(env)[:5] == ["prefix-0", "prefix-8", "prefix-4", "prefix-4", "prefix-4"]  # GOOD and BAD not again
    assert bisect("--resume", out, env=env).returncode == 0  # an ended bisect says where its answer is
