"""--kernel specs: the grammar is checked before anything is fetched."""
import pathlib

import pytest

from harness.kernels import kernel_store


@pytest.mark.parametrize("text,kind,suite,version", [
    ("host", "host", None, None),
    ("debian:bookworm", "debian", "bookworm", None),
    ("debian:sid", "debian", "sid", None),
    ("debian:bookworm=6.1.170-3", "debian", "bookworm", "6.1.170-3"),
    ("debian:trixie=6.12.107-1", "debian", "trixie", "6.12.107-1"),
    ("debian:bookworm-backports", "debian", "bookworm-backports", None),
])
def test_good_specs_parse(text, kind, suite, version):
    spec = kernel_store.parse(text)
    assert (spec.kind, spec.suite, spec.version) == (kind, suite, version)


@pytest.mark.parametrize("text,flavour", [("debian:bookworm/cloud", "cloud"), ("debian:bookworm/rt", "rt"),
                                          ("debian:bookworm", "amd64"), ("debian:trixie/cloud=6.12.57-1", "cloud")])
def test_flavours_parse(text, flavour):
    assert kernel_store.parse(text).flavour == flavour


def test_a_label_names_the_folder_and_the_column():
    spec = kernel_store.parse("stock=debian:bookworm=6.1.170-3")
    assert (spec.label, spec.text, spec.version) == ("stock", "debian:bookworm=6.1.170-3", "6.1.170-3")
    assert spec.name == spec.slug == "stock"
    assert kernel_store.parse("debian:bookworm/cloud").slug == "debian-bookworm-cloud"


@pytest.mark.parametrize("text,message", [
    ("debian:buster2", "unknown Debian suite 'buster2'"),
    ("debian:bookworm=latest", "is not a Debian package version"),
    ("vms:lts", "unknown kernel spec"),
    ("local:/nonexistent/bzImage:/tmp", "does not exist"),
    ("local:a:b:c", "write local:<vmlinuz> or local:<vmlinuz>:<modules folder>"),
    ("debian:bookworm/arm64", "unknown flavour 'arm64'"),
    ("9x=debian:bookworm", "a label is a letter then"),
    ("name=", "a label is a letter then"),
])
def test_bad_specs_say_what_to_write(text, message):
    with pytest.raises(kernel_store.KernelSpecError, match=message.replace("(", r"\(")):
        kernel_store.parse(text)


def test_local_spec_checks_a_modules_folder_when_given(tmp_path):
    image = tmp_path / "bzImage"
    image.write_bytes(b"\0")
    with pytest.raises(kernel_store.KernelSpecError, match="not a lib/modules/<release> folder"):
        kernel_store.parse(f"local:{image}:{tmp_path}")
    modules = tmp_path / "lib" / "modules" / "6.19.0-rc1"
    (modules / "kernel").mkdir(parents=True)
    spec = kernel_store.parse(f"local:{image}:{modules}")
    assert (spec.kind, spec.image, spec.modules) == ("local", image, modules)


def _bzimage(path, release):
    """The parts of a bzImage setup header that carry its release string."""
    data = bytearray(0x400)
    data[0x202:0x206] = b"HdrS"
    data[0x20E:0x210] = (0x300 - 0x200).to_bytes(2, "little")
    text = f"{release} (tcprepro@tcprepro) #1 SMP".encode()
    data[0x300:0x300 + len(text)] = text
    path.write_bytes(bytes(data))


def test_local_kernel_without_modules_is_everything_built_in(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_store, "CACHE", tmp_path / "cache")
    image = tmp_path / "build" / "bzImage"
    image.parent.mkdir()
    _bzimage(image, "6.1.192")
    spec = kernel_store.parse(f"patched=local:{image}")
    assert (spec.modules, spec.slug) == (None, "patched")
    prepared = kernel_store.prepare(spec)
    assert (prepared.release, prepared.spec, prepared.has_modules) == ("6.1.192", "patched", False)
    assert prepared.modules_dir.is_dir()
    # A second run preparing the same kernel leaves the tree a first run may be booted from alone.
    inode = prepared.modules_dir.stat().st_ino
    assert kernel_store.prepare(spec).modules_dir.stat().st_ino == inode


def test_local_kernel_that_is_not_a_bzimage_needs_its_modules(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_store, "CACHE", tmp_path / "cache")
    image = tmp_path / "vmlinux"
    image.write_bytes(b"\x7fELF" + bytes(0x300))
    with pytest.raises(kernel_store.KernelSpecError, match="not a bzImage"):
        kernel_store.prepare(kernel_store.parse(f"local:{image}"))


def test_unlabelled_local_kernel_is_named_after_its_folder(tmp_path):
    image = tmp_path / "linux-6.1" / "bzImage"
    image.parent.mkdir()
    image.write_bytes(b"\0")
    assert kernel_store.parse(f"local:{image}").slug == "local-linux-6.1"


def test_a_corrupt_cache_file_is_one_clear_error(tmp_path):
    broken = tmp_path / "pins.json"
    broken.write_text('{"debian:bookworm": [')
    with pytest.raises(kernel_store.CacheError, match=f"cache file {broken} is corrupt.*remove it"):
        kernel_store.read_json(broken)
    assert kernel_store.read_json(tmp_path / "absent.json", {}) == {}


def test_cache_files_are_replaced_whole(tmp_path):
    target = tmp_path / "pins.json"
    kernel_store.write_json(target, {"a": 1})
    kernel_store.write_json(target, {"a": 2})
    assert kernel_store.read_json(target) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["pins.json"]  # no temporary left behind


def test_slugs_are_folder_names():
    assert kernel_store.parse("debian:bookworm").slug == "debian-bookworm"
    assert kernel_store.parse("debian:bookworm=6.1.170-3").slug == "debian-bookworm-6.1.170-3"
    assert kernel_store.parse("host").slug == "host"


def test_image_round_trips_through_json():
    image = kernel_store.KernelImage("debian:sid", "7.2.13+deb14-amd64", pathlib.Path("/k/vmlinuz"),
                                     pathlib.Path("/k/root"), ("linux-binary-7.2.13+deb14-amd64=7.2.13-1",))
    assert kernel_store.KernelImage.from_json(image.to_json()) == image
    assert image.modules_dir == pathlib.Path("/k/root/lib/modules/7.2.13+deb14-amd64")


def test_cache_lock_is_exclusive_across_processes(tmp_path, monkeypatch):
    import fcntl
    import subprocess
    import sys
    monkeypatch.setattr(kernel_store, "CACHE", tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom harness.kernels import kernel_store\n"
         f"kernel_store.CACHE = kernel_store.pathlib.Path({str(tmp_path)!r})\n"
         "with kernel_store.locked('apt-bookworm'):\n    print('held', flush=True)\n    sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=pathlib.Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout.readline().strip() == "held"
        with (tmp_path / "locks" / "apt-bookworm.lock").open("a") as handle:
            with pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    with kernel_store.locked("apt-bookworm"):  # released when the holder ended
        pass


def test_local_modules_folder_with_boot_modules_built_in(tmp_path, monkeypatch):
    # `make modules_install` of a kernel with virtio_pci and 9p built in: modules.builtin says so.
    from harness.targets import guest_image
    monkeypatch.setattr(kernel_store, "CACHE", tmp_path / "cache")
    image = tmp_path / "bzImage"
    _bzimage(image, "6.19.0")
    modules = tmp_path / "lib" / "modules" / "6.19.0"
    modules.mkdir(parents=True)
    (modules / "modules.order").write_text("")
    (modules / "modules.builtin").write_text("kernel/drivers/virtio/virtio_pci.ko\nkernel/net/9p/9pnet_virtio.ko\n"
                                             "kernel/fs/9p/9p.ko\n")
    prepared = kernel_store.prepare(kernel_store.parse(f"local:{image}:{modules}"))
    assert prepared.has_modules
    assert guest_image._boot_module_files(prepared) == []  # all three built in: nothing to load
