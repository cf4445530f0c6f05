"""doctor on a corrupt kernel cache: a failing check that says which file, not a traceback."""
from harness.machine import doctor
from harness.kernels import kernel_store


def test_a_corrupt_cache_file_is_a_failing_check_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_store, "CACHE", tmp_path)
    (tmp_path / "accel-probe.json").write_text("{not json")
    (tmp_path / "kernels" / "k").mkdir(parents=True)
    (tmp_path / "kernels" / "k" / "kernel.json").write_text("")
    monkeypatch.setattr(doctor.os, "access", lambda path, mode: True)  # as if /dev/kvm were usable
    monkeypatch.setattr(doctor.pathlib.Path, "exists", lambda self: True)
    kvm, cached = doctor._kvm_check(), doctor._cached_kernels()
    assert not kvm.ok and "accel-probe.json" in kvm.detail and "corrupt" in kvm.detail
    assert not cached.ok and "kernel.json" in cached.detail
