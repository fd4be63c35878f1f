"""The deployment package `chalice package` builds loads on the functions' Lambda runtime.

Opens plain/deployment.zip of the session's `packaged` fixture (built with the real requirements.txt) and
checks every wheel's tags and every shared object's DT_NEEDED against the runtime in the template.
"""
from __future__ import annotations

import shutil
import zipfile

import pytest
from bundle_check import (
    RUNTIMES,
    missing_libraries,
    needed_by_elf_reader,
    needed_by_readelf,
    runtime_of,
    tag_supported,
    unsupported_wheels,
)


@pytest.fixture(scope="module")
def bundle(packaged):
    with zipfile.ZipFile(packaged["plain_zip"]) as archive:
        yield archive


def test_every_vendored_wheel_has_a_tag_the_runtime_loads(packaged, bundle):
    runtime = runtime_of(packaged["plain"])
    assert any(name.endswith(".dist-info/WHEEL") for name in bundle.namelist()), "requirements.txt vendored nothing"
    assert unsupported_wheels(bundle, runtime) == []


def test_every_shared_object_needs_only_what_the_zip_or_the_runtime_has(bundle):
    assert missing_libraries(bundle) == []


def test_pillow_in_the_bundle_is_a_manylinux_wheel_with_its_libraries(bundle):
    names = bundle.namelist()
    [wheel] = [n for n in names if n.lower().startswith("pillow-") and n.endswith(".dist-info/WHEEL")]
    assert "manylinux" in bundle.read(wheel).decode()
    assert any(n.startswith("PIL/_imaging.") and n.endswith(".so") for n in names)
    assert any(n.startswith("pillow.libs/libjpeg") for n in names)  # carried, not the machine's libjpeg.so.62


@pytest.mark.parametrize(
    ("tag", "runtime", "loads"),
    [
        ("py3-none-any", "python3.11", True),
        ("py2.py3-none-any", "python3.11", True),
        ("cp311-cp311-manylinux2014_x86_64", "python3.11", True),
        ("cp311-cp311-manylinux_2_17_x86_64", "python3.11", True),
        ("cp311-cp311-manylinux1_x86_64", "python3.11", True),
        ("cp311-cp311-manylinux_2_26_x86_64", "python3.11", True),
        ("cp38-abi3-manylinux_2_17_x86_64", "python3.11", True),
        ("cp311-cp311-manylinux_2_28_x86_64", "python3.11", False),  # newer glibc than Amazon Linux 2
        ("cp311-cp311-manylinux_2_28_x86_64", "python3.12", False),  # right glibc, wrong CPython
        ("cp312-cp312-manylinux_2_28_x86_64", "python3.12", True),
        ("cp311-cp311-linux_x86_64", "python3.11", False),  # built on this machine
        ("cp311-cp311-musllinux_1_2_x86_64", "python3.11", False),  # no musl on Lambda
        ("cp311-cp311-manylinux2014_aarch64", "python3.11", False),
        ("cp312-abi3-manylinux2014_x86_64", "python3.11", False),  # needs a newer CPython
        ("cp310-cp310-manylinux2014_x86_64", "python3.11", False),
        ("py3-none-macosx_11_0_arm64", "python3.11", False),
    ],
)
def test_tag_rules(tag, runtime, loads):
    assert tag_supported(tag, RUNTIMES[runtime]) is loads


def test_the_runtime_is_the_one_the_pins_were_chosen_for(packaged):
    # requirements.txt pins Pillow 12.2.0 for python3.11's glibc 2.26; a runtime change must revisit it.
    assert runtime_of(packaged["plain"]).name == "python3.11"


def test_the_fallback_elf_reader_agrees_with_readelf(bundle, tmp_path):
    if not shutil.which("readelf"):
        pytest.skip("no readelf here to compare with")
    [name] = [n for n in bundle.namelist() if n.startswith("PIL/_imaging.") and n.endswith(".so")]
    path = tmp_path / "object.so"
    path.write_bytes(bundle.read(name))
    expected = needed_by_readelf(path)
    assert expected and needed_by_elf_reader(path.read_bytes()) == expected
