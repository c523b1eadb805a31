#!/usr/bin/env python3
"""Build ``dist/sfuctl``: one executable with Python, every dependency and the media worker inside.

PyInstaller (``--onefile``) bundles the interpreter, our package ``sfuctl`` (with
``sfuctl.server`` and ``sfuctl.tui``, the generated ``sfuctl.server.media.fbs`` collected whole:
flatbuffers' union code imports its modules by name), their data (Textual's ``.tcss``,
swagger-ui-py's assets, ``server/static``)
and ``mediasoup-worker`` at ``sfuctl/server/media/bin/``, where ``find_worker_bin()`` looks next to the
package. PyInstaller's dependency analysis of the worker collects the shared libraries it needs
that are not part of the base system (libuv, libsrtp2 and the NSS it links, abseil, OpenSSL)
into the top of the bundle; the one-file bootloader puts that directory on ``LD_LIBRARY_PATH``,
which the worker inherits, so it runs on a Debian bookworm host without those packages. NSS
(under libsrtp2) also ``dlopen``s its soft token and freebl when the first SRTP session starts;
no dependency analysis sees those, so they are added by name.

Why PyInstaller: it is on PyPI, builds in one to two minutes, handles uvloop/pydantic/orjson through
its maintained hooks and carries native executables with their libraries. Nuitka would compile
to C for a slower build and no gain here (the hot path is the C++ worker); a zipapp (shiv/pex)
cannot carry the Python runtime nor the worker's libraries.

Symbols are stripped from the bundled libraries and the worker (48 -> 33 MB); ``--no-strip``
keeps them. Concurrent builds in one tree (a developer's and a test run's) wait for each other.

Usage: build.py [--if-stale] [--no-strip]
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DIST = ROOT / "dist"
TARGET = DIST / "sfuctl"
WORK = ROOT / "build" / "pyinstaller"
WORKER_BIN = ROOT / "server" / "media" / "bin" / "mediasoup-worker"
FBS = ROOT / "server" / "media" / "fbs"
PACKAGES = {"sfuctl": "sfuctl", "server": "sfuctl/server", "tui": "sfuctl/tui"}
"""Source folder -> where it lives in the bundle: one ``sfuctl`` namespace, as installed."""
DATA_SUFFIXES_SKIPPED = {".py", ".pyc", ".pyi", ".partial", ".so", ".stamp", ".cpp"}
"""Extension modules (the native codec) are found as submodules, with their libraries; its C++
source is not needed at run time."""
DATA_DIRS_SKIPPED = {"__pycache__", "bin"}
"""``server/media/bin`` is added as a binary (analysed for its libraries), not as data."""
THIRD_PARTY_DATA = ("textual", "swagger_ui")
EXCLUDED = (
    # test and build tooling in the venv
    *("pytest", "mypy", "IPython", "tkinter", "numpy", "aiortc", "av", "pymediasoup"),
    # hypothesis: only pydantic.v1's plugin refers to it (cryptography stays: server/tls generates
    # and checks the TLS certificate with it)
    "hypothesis",
)


def say(message: str) -> None:
    print(f"[dist] {message}", flush=True)


def entry_point() -> tuple[str, str]:
    """``module:function`` of the ``sfuctl`` console script, as pyproject.toml declares it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    module, _, function = str(project["scripts"]["sfuctl"]).partition(":")
    return module, function or "main"


def source_files() -> Iterator[Path]:
    """Everything the executable is built from: a change to any of these makes it stale."""
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path
    yield ROOT / "pyproject.toml"
    yield ROOT / "constraints.txt"
    yield Path(__file__).resolve()


def is_stale(target: Path = TARGET) -> bool:
    if not target.exists():
        return True
    built = target.stat().st_mtime
    return any(path.stat().st_mtime > built for path in source_files() if path.exists())


def data_files() -> Iterator[tuple[Path, str]]:
    """Our packages' non-Python files (``server/static``, ``.tcss``...), as (file, bundle dir)."""
    for package, bundled in PACKAGES.items():
        for path in sorted((ROOT / package).rglob("*")):  # rglob does not enter the links
            relative = path.relative_to(ROOT / package)
            if (
                path.is_file()
                and path.suffix not in DATA_SUFFIXES_SKIPPED
                and not DATA_DIRS_SKIPPED.intersection(relative.parts[:-1])
                and path.name != ".stamp"
            ):
                yield path, str(Path(bundled, relative.parent))


NSS_DLOPENED = ("libsoftokn3.so", "libfreeblpriv3.so")


def worker_libraries() -> dict[str, Path]:
    """name -> path of the worker's shared libraries, as the dynamic linker resolves them here."""
    result = subprocess.run(["ldd", str(WORKER_BIN)], capture_output=True, text=True, check=True)
    libraries = {}
    for line in result.stdout.splitlines():
        name, arrow, path, *_ = [*line.split(), "", "", ""]
        if arrow == "=>" and path.startswith("/"):
            libraries[name] = Path(path)
    return libraries


def dlopened_libraries() -> list[Path]:
    """What NSS loads at run time, from the directory of the libnss3 the worker links."""
    nss = worker_libraries().get("libnss3.so")
    if nss is None:
        return []  # a libsrtp2 built on OpenSSL instead of NSS
    found = [nss.parent / name for name in NSS_DLOPENED]
    missing = [str(path) for path in found if not path.exists()]
    if missing:
        sys.exit(f"[dist] NSS modules missing: {', '.join(missing)}")
    return found


def ensure_inputs() -> None:
    """The worker binary and the FlatBuffers code come from the worker build, the native codec from
    its own (both cached, quick)."""
    if not os.access(WORKER_BIN, os.X_OK) or not (FBS / "__init__.py").exists():
        say("worker or FlatBuffers code missing: running packaging/worker/build.py")
        subprocess.run([sys.executable, str(ROOT / "packaging" / "worker" / "build.py")], check=True)
    subprocess.run([sys.executable, str(ROOT / "packaging" / "native" / "build.py")], check=True)
    if not (ROOT / "server" / "static" / "index.html").exists():
        say("warning: server/static/ is not built (`make web`): GET / will show the plain landing page")


def pyinstaller_args(entry: Path, strip: bool) -> list[str]:
    args = [
        "--onefile",
        "--name=sfuctl",
        "--noconfirm",
        "--log-level=WARN",
        f"--distpath={DIST}",
        f"--workpath={WORK}",
        f"--specpath={WORK}",
        f"--paths={ROOT}",
        f"--add-binary={WORKER_BIN}{os.pathsep}sfuctl/server/media/bin",
        *(f"--add-binary={library}{os.pathsep}." for library in dlopened_libraries()),
    ]
    # Imports done inside functions (commands, the TUI, fbs unions) are all found this way.
    args.append("--collect-submodules=sfuctl")
    for package in THIRD_PARTY_DATA:
        args.append(f"--collect-data={package}")
    for path, destination in data_files():
        args.append(f"--add-data={path}{os.pathsep}{destination}")
    for module in EXCLUDED:
        args.append(f"--exclude-module={module}")
    if strip:
        args.append("--strip")
    args.append(str(entry))
    return args


def build(strip: bool) -> Path:
    ensure_inputs()
    module, function = entry_point()
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sfuctl-dist-") as tmp:
        entry = Path(tmp) / "sfuctl_main.py"
        entry.write_text(
            f'"""Entry of the one-file sfuctl."""\nfrom {module} import {function}\n\n{function}()\n'
        )
        say(f"PyInstaller --onefile ({module}:{function}, worker {WORKER_BIN.relative_to(ROOT)})")
        partial = DIST / "sfuctl.partial"
        shutil.rmtree(partial, ignore_errors=True)
        args = pyinstaller_args(entry, strip)
        args[args.index(f"--distpath={DIST}")] = f"--distpath={partial}"
        subprocess.run([sys.executable, "-m", "PyInstaller", *args], check=True, cwd=ROOT)
        DIST.mkdir(exist_ok=True)
        (partial / "sfuctl").replace(TARGET)
        shutil.rmtree(partial)
    size = TARGET.stat().st_size / 1e6
    say(f"built {TARGET.relative_to(ROOT)} ({size:.1f} MB) in {time.monotonic() - started:.0f}s")
    return TARGET


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--if-stale",
        action="store_true",
        help="build only if dist/sfuctl is missing or older than its sources",
    )
    parser.add_argument(
        "--no-strip", dest="strip", action="store_false", help="keep the symbols of the bundled libraries"
    )
    args = parser.parse_args()
    if importlib.util.find_spec("PyInstaller") is None:
        sys.exit("[dist] PyInstaller is not installed: pip install -c constraints.txt -e '.[dist]'")
    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other build's result may make ours unnecessary
        if args.if_stale and not is_stale():
            say(f"{TARGET.relative_to(ROOT)} is up to date")
            return
        build(args.strip)


if __name__ == "__main__":
    main()
