"""A QEMU target's results come back per test, also when the guest did not finish."""
import json
import pathlib

from harness.run import cases
from harness.judge import catalogue
from harness.targets import guest, targets
from harness.kernels import kernel_store


def _target(tmp_path) -> targets.QemuTarget:
    image = kernel_store.KernelImage("debian:bookworm", "6.1.0-50-amd64", tmp_path / "vmlinuz", tmp_path,
                                     ("linux-image-6.1.0-50-amd64-unsigned=6.1.176-1",))
    return targets.QemuTarget({"spec": "debian:bookworm", "image": image.to_json(), "accelerator": "tcg",
                               "cpus": 1, "timeout": 60, "build": str(tmp_path)})


def _tests():
    family = catalogue.load()[0]
    scenario = next(iter(family.scenarios.values()))
    return [cases.CaseTest(f"S/T.{scenario.gtest_name}/v{i}", pathlib.Path("/bin/true"), scenario, f"v{i}")
            for i in range(3)]


def test_tests_the_guest_never_reported_are_errors_naming_the_guest_failure(tmp_path):
    target, tests = _target(tmp_path), _tests()
    done = cases.RawResult(tests[0], "passed", None, 0.5, {"observations": {"x": 1}},
                           tmp_path / "evidence" / "a", tmp_path / "evidence" / "a" / "gtest.log",
                           "6.1.0-50-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)")
    lines = [{"kernel": {"release": "6.1.0-50-amd64", "machine": "x86_64",
                         "version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)"}},
             guest.raw_to_json(done)]
    results_file = tmp_path / "guest-results.jsonl"
    results_file.write_text("".join(json.dumps(line) + "\n" for line in lines))
    target.guest_error = "debian:bookworm: guest did not finish within 60 s; console log: console.log"

    raws = target._collect(tests, results_file)

    assert [r.outcome for r in raws] == ["passed", "error", "error"]
    assert raws[0] == done
    assert raws[1].reason.startswith("guest did not finish: debian:bookworm: guest did not finish within 60 s")
    assert target.kernel.upstream == (6, 1, 176)
    assert target.describe()["error"] == target.guest_error


def test_a_guest_that_never_started_the_harness_is_judged_by_its_package_version(tmp_path):
    target, tests = _target(tmp_path), _tests()
    target.guest_error = "debian:bookworm: guest did not boot within 90 s under tcg"
    raws = target._collect(tests, tmp_path / "missing.jsonl")
    assert {r.outcome for r in raws} == {"error"}
    assert target.kernel.upstream == (6, 1, 176)


def test_host_folders_under_the_guests_tmpfs_are_kept():
    from harness.targets import qemu
    paths = [pathlib.Path(p) for p in ("/tmp/clone", "/tmp/clone", "/work/main", "/var/tmp/b", "/run/x", "/tmpfoo")]
    assert qemu._hidden_by_guest_tmpfs(paths) == [pathlib.Path(p) for p in ("/tmp/clone", "/var/tmp/b", "/run/x")]


def test_the_guest_harness_exception_reaches_the_user(tmp_path):
    """harness.targets.guest writes what it died of; every unfinished test carries it, not 'ended without a result'."""
    job = {"build": str(tmp_path / "no-build"), "tests": ["S/T.x/v0"], "evidence_root": str(tmp_path / "ev"),
           "jobs": 1, "results": str(tmp_path / "guest-results.jsonl")}
    (tmp_path / "job.json").write_text(json.dumps(job))
    try:
        guest.main(str(tmp_path / "job.json"))
    except cases.CaseError:
        pass
    else:
        raise AssertionError("a job against a missing build must fail")
    target, tests = _target(tmp_path), _tests()
    raws = target._collect(tests, tmp_path / "guest-results.jsonl")
    assert {r.outcome for r in raws} == {"error"}
    assert all("the guest's harness failed: CaseError: case program" in r.reason for r in raws), raws[0].reason
    assert "is missing" in raws[0].reason


def test_repeated_draws_come_back_per_draw(tmp_path):
    target, tests = _target(tmp_path), _tests()
    lines = [{"kernel": {"release": "6.1.0-50-amd64", "machine": "x86_64", "version": "#1 Debian 6.1.176-1"}}]
    for draw in (0, 1):
        raw = cases.RawResult(tests[0], "passed", None, 0.5, {"observations": {"x": draw}}, tmp_path, tmp_path,
                              "u", None, draw)
        lines.append(guest.raw_to_json(raw))
    results_file = tmp_path / "guest-results.jsonl"
    results_file.write_text("".join(json.dumps(line) + "\n" for line in lines))
    raws = target._collect(tests[:1], results_file)
    assert sorted((r.draw, r.record["observations"]["x"]) for r in raws) == [(0, 0), (1, 1)]


def _fake_qemu(tmp_path, monkeypatch, script: str):
    """QEMU replaced by a script that prints the guest's console markers."""
    from harness.targets import guest_image, qemu
    fake = tmp_path / "fake-qemu"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(0o755)
    monkeypatch.setattr(qemu, "require_qemu", lambda: str(fake))
    monkeypatch.setattr(guest_image, "initramfs", lambda image: tmp_path / "initrd")
    image = kernel_store.KernelImage("built", "6.1.192", tmp_path / "bzImage", tmp_path, ())
    return qemu, image


def test_a_guest_that_halts_after_done_is_ended_at_once(tmp_path, monkeypatch):
    # A kernel without ACPI cannot power off: it halts after "done" and QEMU runs on.
    qemu, image = _fake_qemu(tmp_path, monkeypatch,
                             "echo 'tcprepro-guest: up 6.1.192'\necho 'tcprepro-guest: done 0'\n"
                             "echo 'reboot: System halted'\nexec sleep 600\n")
    run = qemu.boot(image, "tcg", boot_timeout=30, timeout=300, console=tmp_path / "console.log")
    assert run.status == 0
    assert run.total_seconds < qemu.POWEROFF_GRACE + 5  # not the 300 s guest timeout
    assert "ended by the harness" in (tmp_path / "console.log").read_text()


def test_a_guest_that_powers_off_is_not_killed(tmp_path, monkeypatch):
    qemu, image = _fake_qemu(tmp_path, monkeypatch,
                             "echo 'tcprepro-guest: up 6.1.192'\necho 'tcprepro-guest: done 3'\n")
    run = qemu.boot(image, "tcg", boot_timeout=30, timeout=300, console=tmp_path / "console.log")
    assert run.status == 3
    assert "ended by the harness" not in (tmp_path / "console.log").read_text()


def test_a_boot_that_dies_before_the_guest_came_up_is_retried_and_said(tmp_path, monkeypatch):
    """An oops while booting (QEMU ends, no "up") is no story's verdict: boot again, keep the log."""
    from harness.targets import qemu
    target = _target(tmp_path)
    boots = []

    def boot(*args, console, **kwargs):
        boots.append(console)
        console.write_text(f"boot {len(boots)}\n")
        if len(boots) < 3:
            raise qemu.BootFailed(f"debian:bookworm: QEMU ended (status 0) before the guest came up; "
                                  f"console log: {console}", console)
        return qemu.GuestRun("tcg", 0, 7.0, 30.0, console, 25.0)
    monkeypatch.setattr(qemu, "boot", boot)
    run = target._boot(tmp_path / "job.sh", tmp_path)
    assert run.status == 0 and len(boots) == 3
    assert [b["attempt"] for b in target.failed_boots] == [1, 2]
    assert (tmp_path / "console.boot-1.log").read_text() == "boot 1\n"
    assert target.failed_boots[0]["console_log"] == "console.boot-1.log"
    assert "console.boot-1.log" in target.failed_boots[0]["error"]
    target.guest_run = run
    described = target.describe()
    assert described["failed_boots"] == target.failed_boots and described["cpu_seconds"] == 25.0


def test_a_guest_that_never_comes_up_fails_after_the_bounded_boots(tmp_path, monkeypatch):
    from harness.targets import qemu
    target = _target(tmp_path)

    def boot(*args, console, **kwargs):
        console.write_text("oops\n")
        raise qemu.BootTimeout("debian:bookworm: guest did not boot within 90 s under tcg", console)
    monkeypatch.setattr(qemu, "boot", boot)
    try:
        target._boot(tmp_path / "job.sh", tmp_path)
        raise AssertionError("no error")
    except qemu.BootFailed as error:
        assert f"boot {targets.BOOT_ATTEMPTS} of {targets.BOOT_ATTEMPTS}" in str(error)
    assert len(target.failed_boots) == targets.BOOT_ATTEMPTS
    assert (tmp_path / "console.log").exists()  # the last one's log, where the report links it


def test_a_guest_error_after_it_came_up_is_not_retried(tmp_path, monkeypatch):
    """Once "up", stories may have run: a later failure is the run's, reported, never booted again."""
    from harness.targets import qemu
    target = _target(tmp_path)
    calls = []

    def boot(*args, console, **kwargs):
        calls.append(1)
        raise qemu.GuestError("debian:bookworm: guest did not finish within 60 s", console)
    monkeypatch.setattr(qemu, "boot", boot)
    try:
        target._boot(tmp_path / "job.sh", tmp_path)
    except qemu.GuestError:
        pass
    assert calls == [1] and target.failed_boots == []
