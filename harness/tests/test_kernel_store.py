"""--kernel specs: the grammar is checked before anything is fetched."""
import pathlib

import pytest

from harness import kernel_store


@pytest.mark.parametrize("text,kind,suite,version", [
    ("host", "host", None, None),
    ("debian:bookworm", "debian", "bookworm", None),
    ("debian:sid", "debian", "sid", None),
    ("debian:bookworm=6.1.170-3", "debian", "bookworm", "6.1.170-3"),
    ("debian:trixie=6.12.107-1", "debian", "trixie", "6.12.107-1"),
])
def test_good_specs_parse(text, kind, suite, version):
    spec = kernel_store.parse(text)
    assert (spec.kind, spec.suite, spec.version) == (kind, suite, version)


@pytest.mark.parametrize("text,message", [
    ("debian:buster2", "unknown Debian suite 'buster2'"),
    ("debian:bookworm=latest", "is not a Debian package version"),
    ("vms:lts", "unknown kernel spec"),
    ("local:/nonexistent/bzImage:/tmp", "does not exist"),
    ("local:onlyonepart", "write local:<vmlinuz>:<modules folder>"),
])
def test_bad_specs_say_what_to_write(text, message):
    with pytest.raises(kernel_store.KernelSpecError, match=message.replace("(", r"\(")):
        kernel_store.parse(text)


def test_local_spec_needs_a_modules_folder(tmp_path):
    image = tmp_path / "bzImage"
    image.write_bytes(b"\0")
    with pytest.raises(kernel_store.KernelSpecError, match="not a lib/modules/<release> folder"):
        kernel_store.parse(f"local:{image}:{tmp_path}")
    modules = tmp_path / "lib" / "modules" / "6.19.0-rc1"
    (modules / "kernel").mkdir(parents=True)
    spec = kernel_store.parse(f"local:{image}:{modules}")
    assert (spec.kind, spec.image, spec.modules) == ("local", image, modules)


def test_slugs_are_folder_names():
    assert kernel_store.parse("debian:bookworm").slug == "debian-bookworm"
    assert kernel_store.parse("debian:bookworm=6.1.170-3").slug == "debian-bookworm-6.1.170-3"
    assert kernel_store.parse("host").slug == "host"


def test_image_round_trips_through_json():
    image = kernel_store.KernelImage("debian:sid", "7.2.13+deb14-amd64", pathlib.Path("/k/vmlinuz"),
                                     pathlib.Path("/k/root"), ("linux-binary-7.2.13+deb14-amd64=7.2.13-1",))
    assert kernel_store.KernelImage.from_json(image.to_json()) == image
    assert image.modules_dir == pathlib.Path("/k/root/lib/modules/7.2.13+deb14-amd64")
