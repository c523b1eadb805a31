#!/usr/bin/env python3
"""Compile the channel's native codec (server/media/native/codec.cpp) into an extension module.

Why a script and not setuptools: the module is optional (the pure-Python codec is the fallback),
so a machine without a compiler still sets up; and it is rebuilt only when its source, the
compiler or the Python it is built for change (a stamp next to it). Needs g++, the Python
headers and the flatbuffers headers (Debian: g++, python3-dev, libflatbuffers-dev); no
flatbuffers library is linked (Debian's static one is not position-independent).

Usage: build.py [--force] [--out DIR]   (exit status 0 even when it cannot build: a warning)
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCE = ROOT / "server" / "media" / "native" / "codec.cpp"
OUT_DIR = ROOT / "server" / "media"
FLAGS = ["-O2", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", "-DNDEBUG", "-Wall"]


def say(message: str) -> None:
    print(f"[native] {message}", flush=True)


def target(out_dir: Path) -> Path:
    return out_dir / f"_codec{sysconfig.get_config_var('EXT_SUFFIX')}"


def build(out_dir: Path, force: bool) -> bool:
    compiler = shutil.which("g++")
    include = sysconfig.get_paths()["include"]
    if compiler is None or not (Path(include) / "Python.h").exists():
        say(f"WARNING: cannot build the native codec (g++: {compiler}, Python.h in {include}); "
            "the pure-Python codec will be used")  # fmt: skip
        return False
    if not Path("/usr/include/flatbuffers/flatbuffers.h").exists():
        say("WARNING: no flatbuffers headers (libflatbuffers-dev); the pure-Python codec will be used")
        return False
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join([version, include, *FLAGS]).encode()).hexdigest()
    module = target(out_dir)
    stamp = module.with_name(module.name + ".stamp")
    if not force and module.exists() and stamp.exists() and stamp.read_text() == key:
        return True
    partial = module.with_name(module.name + ".partial")
    command = [compiler, *FLAGS, f"-I{include}", str(SOURCE), "-o", str(partial)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        say(
            f"WARNING: the native codec did not compile; the pure-Python codec will be used:\n{result.stderr}"
        )
        return False
    partial.replace(module)
    stamp.write_text(key)
    say(f"built {module.relative_to(ROOT) if module.is_relative_to(ROOT) else module}")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="directory of the module")
    parser.add_argument("--strict", action="store_true", help="fail (exit 1) if it cannot be built")
    args = parser.parse_args()
    if not build(args.out, args.force) and args.strict:
        sys.exit(1)


if __name__ == "__main__":
    main()
