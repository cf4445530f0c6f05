"""The CI templates under ci/templates/ parse, and every ./tcprepro command they run
exists with those flags (checked with the real argparse parser)."""
import pathlib
import re
import shlex

import pytest
import yaml

from cli import common, run_options
from cli import main as cli

TEMPLATES = pathlib.Path(__file__).resolve().parents[2] / "ci" / "templates"
# Sample values for the variables the templates use; an unknown one fails the test.
VARIABLES = {
    "${{ matrix.kernel }}": "debian:bookworm", "${{ matrix.shard }}": "1/2", "$KERNEL": "debian:bookworm",
    "$SHARD": "1/2", "$CI_JOB_ID": "42", "$BASELINE_DIR": "baseline",
    "$TCPREPRO_DIR": "/opt/tcprepro", "$status": "0", "$HISTORY_STORE": "history/history.sqlite",
}


def shell_lines(path: pathlib.Path) -> list[str]:
    data = yaml.safe_load(path.read_text())
    if path.name.startswith("github"):
        return [step["run"] for job in data["jobs"].values() for step in job["steps"] if "run" in step]
    if path.name.startswith("gitlab"):
        return [line for job in data.values() if isinstance(job, dict) and "script" in job for line in job["script"]]
    return list(data["run"]["steps"])


def tcprepro_commands(line: str) -> list[list[str]]:
    commands = []
    for part in re.split(r"\|\||&&|;|\|", line):
        if "./tcprepro" not in part:
            continue
        text = part[part.index("./tcprepro") + len("./tcprepro"):]
        for name, value in VARIABLES.items():
            text = text.replace(name, value)
        assert "$" not in text, f"unknown variable in {part!r}: add a sample value to VARIABLES"
        commands.append(shlex.split(text))
    return commands


TEMPLATE_FILES = sorted(p for p in TEMPLATES.iterdir() if p.suffix in (".yml", ".yaml"))


def test_there_are_templates_for_github_gitlab_and_lava():
    assert [p.name for p in TEMPLATE_FILES] == ["github-actions.yml", "gitlab-ci.yml", "lava-tcprepro.yaml"]


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_every_tcprepro_command_in_a_template_parses(path, capsys):
    commands = [command for line in shell_lines(path) for command in tcprepro_commands(line)]
    assert commands, "the template runs no ./tcprepro command"
    for argv in commands:
        try:
            cli.parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{path.name}: ./tcprepro {shlex.join(argv)}: {capsys.readouterr().err}")


def test_the_github_workflow_runs_a_kernel_matrix_keeps_artifacts_and_merges():
    data = yaml.safe_load((TEMPLATES / "github-actions.yml").read_text())
    run = data["jobs"]["run"]
    assert set(run["strategy"]["matrix"]) == {"kernel", "shard"}
    uploads = [s for s in run["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["if"] == "always()"
    merge_commands = [c[0] for line in shell_lines(TEMPLATES / "github-actions.yml")
                      for c in tcprepro_commands(line)]
    assert {"run", "report", "compare"} <= set(merge_commands)
    assert "ci/templates/kernels.txt" in data["jobs"]["kernels"]["steps"][1]["run"]


def test_the_gitlab_pipeline_runs_a_parallel_matrix():
    data = yaml.safe_load((TEMPLATES / "gitlab-ci.yml").read_text())
    matrix = data["tcprepro"]["parallel"]["matrix"][0]
    kernels = [line.strip() for line in (TEMPLATES / "kernels.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert matrix["KERNEL"] == kernels and matrix["SHARD"] == ["1/2", "2/2"]
    assert data["tcprepro-merge"]["stage"] == "merge"


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_merge_job_keeps_a_history_and_prints_flakes_and_changes(name):
    data = yaml.safe_load((TEMPLATES / name).read_text())
    merge = data["jobs"]["merge"] if name.startswith("github") else data["tcprepro-merge"]
    commands = [c for line in shell_lines(TEMPLATES / name) for c in tcprepro_commands(line) if c[0] == "history"]
    assert [c[1] for c in commands] == ["add", "flakes", "changes", "report"]
    assert all(c[c.index("--store") + 1] == "history/history.sqlite" for c in commands)
    if name.startswith("github"):  # carried in the Actions cache from the last pipeline, or on a server
        cache = next(s for s in merge["steps"] if s.get("uses", "").startswith("actions/cache"))
        assert cache["with"]["path"] == "history" and cache["with"]["restore-keys"] == "tcprepro-history-"
        assert "secrets.TCPREPRO_HISTORY_URL" in merge["env"]["HISTORY_STORE"]
    else:  # handed on as the merge job's artifact, fetched by the next one
        assert "history/" in merge["artifacts"]["paths"]
        assert any("jobs/artifacts/" in line and "job=tcprepro-merge" in line for line in merge["script"])
    assert "python3-sqlalchemy python3-psycopg2" in "\n".join(shell_lines(TEMPLATES / name))


def test_the_lava_definition_reports_through_lava_test_case():
    data = yaml.safe_load((TEMPLATES / "lava-tcprepro.yaml").read_text())
    assert data["metadata"]["format"] == "Lava-Test Test Definition 1.0"
    assert data["metadata"]["name"]
    steps = "\n".join(data["run"]["steps"])
    assert "lava-test-case" in steps and "ktap-to-lava.sh /tmp/tcprepro/host/results.ktap" in steps


def test_the_kernels_file_is_what_run_reads(tmp_path):
    specs = run_options._read_kernels_file(TEMPLATES / "kernels.txt")
    assert specs == ["debian:bullseye", "debian:bookworm", "debian:trixie", "debian:sid"]
    assert common._parse_kernel_specs(specs)


def test_ktap_results_become_lava_test_cases(tmp_path):
    import os
    import subprocess
    from harness.outputs import ktap
    from harness.tests.test_outputs import MIXED
    (tmp_path / "results.ktap").write_text("\n".join(ktap.lines(MIXED)) + "\n")
    recorder = tmp_path / "bin" / "lava-test-case"
    recorder.parent.mkdir()
    recorder.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "cases"}\n')
    recorder.chmod(0o755)
    subprocess.run([str(TEMPLATES / "ktap-to-lava.sh"), str(tmp_path / "results.ktap")], check=True,
                   env={**os.environ, "PATH": f"{recorder.parent}:{os.environ['PATH']}"})
    assert (tmp_path / "cases").read_text().splitlines() == [
        "S1a_ipv4_loopback --result pass",
        "S1a_ipv6_loopback --result fail",
        "S2e-socket-range_ipv4 --result skip",
        "S3b-reuse1-veth_ipv4 --result fail",
        "S5-x --result fail",
    ]
