"""Will a Lambda deployment package load on its runtime? Read from the zip alone, without AWS or Docker.

`chalice package` accepts any wheel tagged `linux_x86_64`, and when a package has no wheel the runtime can load
it builds the sdist on this machine, against this machine's libraries (see Chalice's packaging docs,
"Packaging native wheels"). Such a bundle deploys and then fails at import. Two checks catch it:

- every `*.dist-info/WHEEL` has at least one Tag the runtime can load (pure Python, or a manylinux tag whose
  glibc is not newer than the runtime's, for its CPython and machine);
- every ELF shared object in the zip needs (DT_NEEDED) only libraries the zip carries or the runtime has.
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Runtime:
    name: str  # the Lambda runtime identifier, as in the template's Runtime
    python: tuple[int, int]
    glibc: tuple[int, int]
    machine: str = "x86_64"


# The Lambda Python runtimes: python3.10/3.11 run on Amazon Linux 2 (glibc 2.26), 3.12+ on Amazon Linux 2023
# (glibc 2.34). Neither has musl, so no musllinux wheel loads on either.
RUNTIMES = {
    "python3.10": Runtime("python3.10", (3, 10), (2, 26)),
    "python3.11": Runtime("python3.11", (3, 11), (2, 26)),
    "python3.12": Runtime("python3.12", (3, 12), (2, 34)),
    "python3.13": Runtime("python3.13", (3, 13), (2, 34)),
}
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}  # Lambda's name -> the wheel tags' machine

# Libraries a bundled .so may need without carrying them: the glibc family, the C/C++ runtime and zlib.
# Kept short and conservative: each is on every Lambda Python image (Amazon Linux 2 and 2023 alike) and on
# the manylinux policy's list of libraries a wheel may assume. Not here on purpose, though manylinux allows
# them: X11, GL, glib - Lambda's images lack them (a wheel needing one must carry it, as Pillow does libxcb).
RUNTIME_LIBRARIES = frozenset({
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libcrypt.so.1",
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libz.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
})

_MANYLINUX_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_ELF_MAGIC = b"\x7fELF"
_SHARED_OBJECT = re.compile(r"\.so(\.\d+)*$")


def runtime_of(template: dict) -> Runtime:
    """The runtime (and architecture) of the functions in a SAM template `chalice package` wrote."""
    functions = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    found = {(f["Runtime"], tuple(f.get("Architectures", ["x86_64"]))) for f in functions}
    assert len(found) == 1, f"the functions disagree on runtime or architecture: {found}"
    [(name, architectures)] = found
    assert name in RUNTIMES, f"{name}: add its glibc to RUNTIMES in {__file__}"
    runtime = RUNTIMES[name]
    return Runtime(runtime.name, runtime.python, runtime.glibc, ARCHITECTURES[architectures[0]])


# --- Wheel tags -----------------------------------------------------------------------------------------


def platform_supported(platform: str, runtime: Runtime) -> bool:
    if platform == "any":
        return True
    legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", platform)
    if legacy:
        glibc, machine = _MANYLINUX_LEGACY[legacy[1]], legacy[2]
    else:
        perennial = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
        if not perennial:  # linux_x86_64 (built here), musllinux_* (no musl on Lambda), macosx, win ...
            return False
        glibc, machine = (int(perennial[1]), int(perennial[2])), perennial[3]
    return machine == runtime.machine and glibc <= runtime.glibc


def tag_supported(tag: str, runtime: Runtime) -> bool:
    """A PEP 425 tag (`interpreter-abi-platform`, any part possibly a `.`-set) the runtime's CPython loads."""
    interpreters, abis, platforms = (part.split(".") for part in tag.split("-"))
    major, minor = runtime.python
    cpython = f"cp{major}{minor}"

    def fits(interpreter: str, abi: str) -> bool:
        if abi == "none":  # no extension module: any Python 3 interpreter tag of this or an older version
            version = re.fullmatch(r"(?:py|cp)(\d)(\d*)", interpreter)
            return bool(version) and int(version[1]) == major and (not version[2] or int(version[2]) <= minor)
        if abi == cpython:
            return interpreter == cpython
        if abi == "abi3":  # the stable ABI, built for this or an older CPython 3
            version = re.fullmatch(r"cp3(\d+)", interpreter)
            return bool(version) and int(version[1]) <= minor
        return False

    return any(
        fits(interpreter, abi) and platform_supported(platform, runtime)
        for interpreter in interpreters for abi in abis for platform in platforms
    )


def wheel_tags(text: str) -> list[str]:
    """The `Tag:` lines of a .dist-info/WHEEL file."""
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.lower().startswith("tag:")]


def unsupported_wheels(archive: zipfile.ZipFile, runtime: Runtime) -> list[str]:
    """'<WHEEL path>: <tags>' for each installed distribution none of whose tags the runtime loads."""
    problems = []
    for name in archive.namelist():
        path = PurePosixPath(name)
        if path.name == "WHEEL" and path.parent.name.endswith(".dist-info"):
            tags = wheel_tags(archive.read(name).decode("utf-8", "replace"))
            if not any(tag_supported(tag, runtime) for tag in tags):
                problems.append(f"{name}: {', '.join(tags) or 'no Tag'} (not loadable on {runtime.name}, "
                                f"glibc {runtime.glibc[0]}.{runtime.glibc[1]}, {runtime.machine})")
    return problems


# --- Shared objects -------------------------------------------------------------------------------------


def needed_libraries(path: Path) -> list[str]:
    """DT_NEEDED of an ELF file: with readelf where there is one, else pyelftools, else our own reader."""
    if shutil.which("readelf"):
        return needed_by_readelf(path)
    try:
        from elftools.elf.elffile import ELFFile  # noqa: PLC0415 - optional
    except ImportError:
        return needed_by_elf_reader(path.read_bytes())
    with open(path, "rb") as stream:
        dynamic = ELFFile(stream).get_section_by_name(".dynamic")
        return [tag.needed for tag in dynamic.iter_tags() if tag.entry.d_tag == "DT_NEEDED"] if dynamic else []


def needed_by_readelf(path: Path) -> list[str]:
    result = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", result.stdout)


def needed_by_elf_reader(data: bytes) -> list[str]:
    """DT_NEEDED from the section headers: the SHT_DYNAMIC section's entries and its linked string table."""
    if data[:4] != _ELF_MAGIC:
        raise ValueError("not an ELF file")
    is64, endian = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(endian + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x3A)
        section, dyn = endian + "IIQQQQIIQQ", endian + "qQ"  # Elf64_Shdr, Elf64_Dyn
    else:
        shoff, = struct.unpack_from(endian + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x2E)
        section, dyn = endian + "IIIIIIIIII", endian + "iI"  # Elf32_Shdr, Elf32_Dyn
    headers = [struct.unpack_from(section, data, shoff + i * shentsize) for i in range(shnum)]
    needed = []
    for _name, kind, _flags, _addr, offset, size, link, *_ in headers:
        if kind != 6:  # SHT_DYNAMIC
            continue
        strings_offset = headers[link][4]
        for position in range(offset, offset + size, struct.calcsize(dyn)):
            tag, value = struct.unpack_from(dyn, data, position)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                start = strings_offset + value
                needed.append(data[start:data.index(b"\0", start)].decode())
    return needed


def missing_libraries(archive: zipfile.ZipFile, provided: frozenset[str] = RUNTIME_LIBRARIES) -> list[str]:
    """'<.so path> needs <library>' for each library neither carried in the zip nor provided by the runtime."""
    shared = [name for name in archive.namelist() if _SHARED_OBJECT.search(name) and not name.endswith("/")]
    carried = {PurePosixPath(name).name for name in shared}
    problems = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in shared:
            data = archive.read(name)
            if data[:4] != _ELF_MAGIC:  # a linker script or a text file with a .so name
                continue
            path = Path(scratch) / "object.so"
            path.write_bytes(data)
            problems.extend(f"{name} needs {library}" for library in needed_libraries(path)
                            if library not in carried and library not in provided)
    return problems
