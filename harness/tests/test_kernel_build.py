"""`./tcprepro kernel build`: the shipped fragment, the cache, the incremental path, bad input.

The build runs for real (rsync, patch, make) on a stand-in source tree
(fake_kernel/: a Makefile with the kernel's targets and O= convention, one
object per source file), so these tests take a second instead of the minutes
a kernel takes. The shipped fragment is checked against the kernel's own
Kconfig when a kernel source is at hand (TCPREPRO_KERNEL_SOURCE).
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from harness.kernels import kernel_build, kernel_store

FAKE = pathlib.Path(__file__).parent / "fake_kernel"
REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_store, "CACHE", tmp_path / "cache")
    return tmp_path / "cache"


@pytest.fixture
def tree(tmp_path):
    copy = tmp_path / "linux"
    shutil.copytree(FAKE, copy)
    return copy


def patch_file(tmp_path, name, old, new):
    """A -p1 patch of src/inet_hashtables.c replacing `old` by `new`."""
    path = tmp_path / name
    path.write_text(f"a description line that patch ignores\n\n"
                    f"--- a/src/inet_hashtables.c\n+++ b/src/inet_hashtables.c\n@@ -1 +1 @@\n-{old}\n+{new}\n")
    return path


def compiled(cache):
    (log,) = (cache / "kbuild" / "workspaces").glob("*/build/compiled.log")
    lines = log.read_text().split()
    log.write_text("")
    return sorted(lines)


def test_shipped_fragment_is_all_config_lines():
    lines = kernel_build.check_fragment(kernel_build.DEFAULT_FRAGMENT)
    names = [re.match(r"(?:# )?(CONFIG_[A-Z0-9_]+)", line).group(1) for line in lines]
    assert len(names) == len(set(names)), "an option set twice"
    # What the guest and the lab cannot do without (kernels/README.md says why each is there).
    for needed in ("CONFIG_VIRTIO_PCI=y", "CONFIG_9P_FS=y", "CONFIG_NET_NS=y", "CONFIG_VETH=y", "CONFIG_IPV6=y",
                   "CONFIG_NET_SCH_NETEM=y", "CONFIG_IFB=y", "CONFIG_NETFILTER_NETLINK_QUEUE=y",
                   "CONFIG_SERIAL_8250_CONSOLE=y", "CONFIG_ACPI=y", "CONFIG_CHECKPOINT_RESTORE=y"):
        assert needed in lines, needed
    assert "CONFIG_MODULES=y" not in lines  # everything built in: no module tree to carry


@pytest.mark.skipif(not os.environ.get("TCPREPRO_KERNEL_SOURCE"), reason="TCPREPRO_KERNEL_SOURCE not set")
def test_shipped_fragment_survives_olddefconfig_on_a_real_kernel(tmp_path):
    source = pathlib.Path(os.environ["TCPREPRO_KERNEL_SOURCE"])
    wanted = kernel_build.check_fragment(kernel_build.DEFAULT_FRAGMENT)
    kernel_build._configure(source, tmp_path / "build", kernel_build.DEFAULT_FRAGMENT, wanted, log=lambda _: None)
    assert "CONFIG_NET_SCH_NETEM=y" in (tmp_path / "build" / ".config").read_text().splitlines()


def test_fragment_lines_are_checked(tmp_path):
    bad = tmp_path / "bad.config"
    bad.write_text("CONFIG_VETH=y\nveth please\n")
    with pytest.raises(kernel_build.BuildInputError, match=r"bad.config:2: not a config line: 'veth please'"):
        kernel_build.check_fragment(bad)


def test_build_applies_patches_and_is_cached_by_source_patches_and_config(cache, tree, tmp_path):
    source = kernel_build.tree_source(tree)
    patch = patch_file(tmp_path, "one.patch", "int port_offset(void) { return 1; }",
                       "int port_offset(void) { return 42; }")
    first = kernel_build.build(source, [patch], log=lambda _: None)
    assert first.seconds is not None and first.release == "6.1.0-fake"
    assert b"return 42" in first.bzimage.read_bytes()  # the patch is in the kernel
    assert b"CONFIG_VETH=y" in first.bzimage.read_bytes()  # and the fragment in its config
    assert "return 1;" in (tree / "src" / "inet_hashtables.c").read_text()  # the user's tree is untouched
    assert compiled(cache) == ["inet_hashtables", "secure_seq"]
    again = kernel_build.build(kernel_build.tree_source(tree), [patch], log=lambda _: None)
    assert (again.seconds, again.bzimage) == (None, first.bzimage)  # cached: nothing built
    unpatched = kernel_build.build(source, [], log=lambda _: None)
    assert unpatched.folder != first.folder and b"return 1;" in unpatched.bzimage.read_bytes()


def test_a_one_file_change_rebuilds_that_file_only(cache, tree, tmp_path):
    log = []
    kernel_build.build(kernel_build.tree_source(tree), [], log=log.append)
    assert compiled(cache) == ["inet_hashtables", "secure_seq"]
    patch = patch_file(tmp_path, "revert.patch", "int port_offset(void) { return 1; }",
                       "int port_offset(void) { return 2; }")
    patched = kernel_build.build(kernel_build.tree_source(tree), [patch], log=log.append)
    assert compiled(cache) == ["inet_hashtables"]
    assert b"return 2" in patched.bzimage.read_bytes()
    # Back to the unpatched source: the file the patch had changed is rebuilt, though rsync
    # restores it with its old mtime (kernel_build touches what it synced).
    (tree / "src" / "secure_seq.c").write_text("int secret(void) { return 3; }\n")
    changed = kernel_build.build(kernel_build.tree_source(tree), [], log=log.append)
    assert compiled(cache) == ["inet_hashtables", "secure_seq"]
    assert b"return 3" in changed.bzimage.read_bytes() and b"return 1;" in changed.bzimage.read_bytes()


def test_a_patch_that_does_not_apply_is_bad_input(cache, tree, tmp_path):
    patch = patch_file(tmp_path, "stale.patch", "int nothing_like_this(void);", "int x;")
    with pytest.raises(kernel_build.BuildInputError, match="stale.patch: does not apply to this source"):
        kernel_build.build(kernel_build.tree_source(tree), [patch], log=lambda _: None)
    assert not (cache / "kbuild" / "builds").exists() or not any((cache / "kbuild" / "builds").iterdir())


def test_a_configured_tree_is_refused(tree):
    (tree / ".config").write_text("CONFIG_64BIT=y\n")
    with pytest.raises(kernel_build.BuildInputError, match="make mrproper"):
        kernel_build.tree_source(tree)


def test_an_option_the_source_drops_is_named(cache, tree, tmp_path):
    # The stand-in's olddefconfig keeps everything; a real kernel drops options whose dependencies
    # are missing. Simulate that by a merge that loses one line.
    merge = tree / "scripts" / "kconfig" / "merge_config.sh"
    merge.write_text(merge.read_text().replace('mv "$out/.merged"', 'grep -v VETH "$out/.merged" > "$out/.m2"; mv "$out/.m2"'))
    with pytest.raises(kernel_build.BuildInputError, match="this source drops CONFIG_VETH=y"):
        kernel_build.build(kernel_build.tree_source(tree), [], log=lambda _: None)


def test_cli_prints_the_spec_that_boots_the_kernel(cache, tree, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("kernel build needs root")
    env = {**os.environ, "TCPREPRO_CACHE": str(cache)}
    built = subprocess.run([str(REPO / "tcprepro"), "kernel", "build", "--from", str(tree), "--name", "mine"],
                           capture_output=True, text=True, env=env)
    assert built.returncode == 0, built.stderr
    spec = built.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"mine=local:/\S+/bzImage", spec)
    bad = subprocess.run([str(REPO / "tcprepro"), "kernel", "build", "--from", str(tree), "--patch", "/nonexistent"],
                         capture_output=True, text=True, env=env)
    assert (bad.returncode, bad.stderr.strip()) == (2, "tcprepro: error: --patch /nonexistent: no such file")


def test_a_second_patch_rebuilds_only_what_it_changes(cache, tree, tmp_path):
    # The revert2022 / pre-5.12 pair: the second build adds a patch; the first patch's file,
    # patched the same way again, keeps its object.
    first = patch_file(tmp_path, "first.patch", "int port_offset(void) { return 1; }",
                       "int port_offset(void) { return 5; }")
    second = tmp_path / "second.patch"
    second.write_text("--- a/src/secure_seq.c\n+++ b/src/secure_seq.c\n@@ -1 +1 @@\n"
                      "-int secret(void) { return 2; }\n+int secret(void) { return 6; }\n")
    kernel_build.build(kernel_build.tree_source(tree), [first], log=lambda _: None)
    compiled(cache)
    both = kernel_build.build(kernel_build.tree_source(tree), [first, second], log=lambda _: None)
    assert compiled(cache) == ["secure_seq"]
    assert b"return 5" in both.bzimage.read_bytes() and b"return 6" in both.bzimage.read_bytes()
