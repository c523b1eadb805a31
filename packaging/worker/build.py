#!/usr/bin/env python3
"""Build mediasoup-worker from the npm package against Debian's libraries, and generate the
Python FlatBuffers code of its channel protocol.

Why a build of our own: mediasoup's installer downloads prebuilt binaries or dependency sources
from hosts that a sealed server cannot reach. We take the package from the npm registry, apply the
patches in ``patches/`` (system dependencies, libsrtp 2 API, a DTLS fix) and build only the
``mediasoup-worker`` target with meson.

The binary is cached under the user's cache dir, keyed by mediasoup version and a hash of the
patches and this script, so a second setup does not rebuild. It is then copied to
``server/media/bin/`` where the controller (and the packagers) find it.

Usage: build.py [--force] [--fbs-only]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

VERSION = "3.27.1"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PATCHES = sorted((HERE / "patches").glob("*.patch"))
PKG_BIN = ROOT / "server" / "media" / "bin" / "mediasoup-worker"
FBS_OUT = ROOT / "server" / "media" / "fbs"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sfuctl"


def say(message: str) -> None:
    print(f"[worker-build] {message}", flush=True)


MESON_OPTIONS = ["--wrap-mode=nodownload", "--buildtype", "release", "-Db_ndebug=true"]
LIBSRTP_VERSION = "2.5.0"
LIBSRTP_OPTIONS = [
    "--buildtype", "release", "--default-library=static", "--libdir=lib",
    "-Dcrypto-library=openssl", "-Dcrypto-library-kdf=disabled", "-Dtests=disabled", "-Ddoc=disabled",
]  # fmt: skip
"""Debian's libsrtp2 does its crypto through NSS, which took half of the worker's CPU when
forwarding; mediasoup links libsrtp statically on OpenSSL, and so do we (same upstream version
as Debian's, built from Debian's source package)."""


def build_key() -> str:
    """What the binary depends on: version, build options and patches (not this script's prose)."""
    recipe = f"{VERSION} {' '.join(MESON_OPTIONS)} libsrtp {LIBSRTP_VERSION} {' '.join(LIBSRTP_OPTIONS)}"
    digest = hashlib.sha256(recipe.encode())
    for path in PATCHES:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def fetch_tarball() -> Path:
    """`npm pack` the pinned package once; later builds reuse the cached tarball."""
    dest = CACHE / "npm"
    tarball = dest / f"mediasoup-{VERSION}.tgz"
    if not tarball.exists():
        dest.mkdir(parents=True, exist_ok=True)
        say(f"fetching mediasoup@{VERSION} from the npm registry")
        subprocess.run(
            ["npm", "pack", f"mediasoup@{VERSION}", "--pack-destination", str(dest), "--silent"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return tarball


def extract(tarball: Path, into: Path) -> Path:
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    return into / "package"


def apply_patches(worker: Path) -> None:
    for patch in PATCHES:
        say(f"applying {patch.name}")
        result = subprocess.run(
            ["patch", "-p1", "--forward", "--batch", "--fuzz=0", "-d", str(worker), "-i", str(patch)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            sys.exit(
                f"[worker-build] patch {patch.name} no longer applies to mediasoup {VERSION}:\n"
                f"{result.stdout}{result.stderr}"
            )


def meson() -> list[str]:
    """Prefer the venv's meson (Debian's 1.0 is too old for the worker's >= 1.1)."""
    candidate = Path(sys.executable).parent / "meson"
    return [str(candidate)] if candidate.exists() else ["meson"]


def fetch_libsrtp_source() -> Path | None:
    """Debian's libsrtp2 source tarball (upstream, unpatched), via apt with a private deb-src list.

    The machine's apt configuration is not changed: the deb-src entries, derived from its own
    deb entries, live in our cache. None when apt cannot provide it (then Debian's library is used).
    """
    dest = CACHE / "debian"
    tarball = dest / f"libsrtp2_{LIBSRTP_VERSION}.orig.tar.gz"
    if tarball.exists():
        return tarball
    apt = dest / "apt"
    parts, lists = apt / "parts", apt / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    parts.mkdir(parents=True, exist_ok=True)
    for source in Path("/etc/apt/sources.list.d").glob("*.sources"):
        text = source.read_text().replace("Types: deb\n", "Types: deb-src\n")
        (parts / source.name).write_text(text)
    main_list = Path("/etc/apt/sources.list")
    if main_list.exists():
        lines = [
            f"deb-src {line[4:]}" for line in main_list.read_text().splitlines() if line.startswith("deb ")
        ]
        (parts / "main.list").write_text("\n".join(lines) + "\n")
    options = [
        "-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={parts}",
        "-o", f"Dir::State::Lists={lists}", "-o", "Debug::NoLocking=1",
    ]  # fmt: skip
    say("fetching the libsrtp2 source package")
    null = subprocess.DEVNULL
    # A third-party repository without sources may fail the update; only the fetch matters.
    subprocess.run(["apt-get", *options, "-qq", "update"], check=False, stdout=null, stderr=null)
    fetch = subprocess.run(
        ["apt-get", *options, "source", "--download-only", "libsrtp2"],
        cwd=dest,
        check=False,
        stdout=null,
        stderr=null,
    )
    if fetch.returncode or not tarball.exists():
        return None
    return tarball


def build_libsrtp(tmp: Path) -> Path | None:
    """A static libsrtp on OpenSSL installed under tmp; returns its pkg-config directory."""
    tarball = fetch_libsrtp_source()
    if tarball is None:
        say(
            "WARNING: no libsrtp2 source from apt; linking Debian's libsrtp2 (NSS crypto, ~2x the worker CPU)"
        )
        return None
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="data")
    source = tmp / f"libsrtp-{LIBSRTP_VERSION}"
    prefix = tmp / "srtp-prefix"
    say(f"building libsrtp {LIBSRTP_VERSION} (static, OpenSSL)")
    build = tmp / "srtp-build"
    setup = [*meson(), "setup", *LIBSRTP_OPTIONS, f"--prefix={prefix}", str(build), str(source)]
    subprocess.run(setup, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*meson(), "install", "-C", str(build)], check=True, stdout=subprocess.DEVNULL)
    return prefix / "lib" / "pkgconfig"


def compile_worker(worker: Path, build: Path, pkg_config_path: Path | None) -> Path:
    env = dict(os.environ)
    if pkg_config_path is not None:
        env["PKG_CONFIG_PATH"] = f"{pkg_config_path}:{env.get('PKG_CONFIG_PATH', '')}".rstrip(":")
    subprocess.run(
        [*meson(), "setup", *MESON_OPTIONS, str(build), str(worker)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )  # fmt: skip
    say("compiling (a few minutes on 2 cores; progress below)")
    jobs = str(os.cpu_count() or 2)
    proc = subprocess.Popen(
        ["ninja", "-C", str(build), "-j", jobs, "mediasoup-worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    started = time.monotonic()
    last = 0.0
    tail: list[str] = []
    for line in proc.stdout:
        tail = [*tail[-40:], line]
        match = re.match(r"\[(\d+)/(\d+)\]", line)
        now = time.monotonic()
        if match and (now - last > 10 or match[1] == match[2]):
            last = now
            done, total = int(match[1]), int(match[2])
            say(f"{done}/{total} ({100 * done // total}%), {int(now - started)}s")
    if proc.wait() != 0:
        sys.exit("[worker-build] compilation failed:\n" + "".join(tail))
    return build / "mediasoup-worker"


def build_worker(force: bool) -> Path:
    cached = CACHE / "worker" / f"mediasoup-worker-{VERSION}-{build_key()}"
    if cached.exists() and not force:
        say(f"using cached worker {cached}")
        return cached
    tarball = fetch_tarball()
    with tempfile.TemporaryDirectory(prefix="sfuctl-worker-") as tmp:
        package = extract(tarball, Path(tmp))
        apply_patches(package / "worker")
        srtp = build_libsrtp(Path(tmp))
        binary = compile_worker(package / "worker", Path(tmp) / "build", srtp)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        shutil.copy2(binary, partial)
        partial.replace(cached)
    say(f"built {cached} ({cached.stat().st_size // 1024} KiB)")
    return cached


def install_binary(cached: Path) -> None:
    PKG_BIN.parent.mkdir(parents=True, exist_ok=True)
    partial = PKG_BIN.with_suffix(".partial")
    shutil.copy2(cached, partial)
    partial.chmod(0o755)
    partial.replace(PKG_BIN)


_FBS_REF = re.compile(r"(?<![\w.])FBS\.")


def generate_fbs() -> None:
    """flatc --python the worker's schemas into server/media/fbs, as a subpackage, and their binary
    schema (``message.bfbs``, reflection) next to it, which the codec loads at run time.

    flatc writes absolute ``FBS.x`` imports; they are rewritten to ``sfuctl.server.media.fbs.x`` so the
    generated code lives inside our distribution instead of claiming a top-level ``FBS`` package.
    """
    flatc = shutil.which("flatc")
    if flatc is None:
        sys.exit("[worker-build] flatc not found: apt-get install flatbuffers-compiler")
    flatc_version = subprocess.run([flatc, "--version"], capture_output=True, text=True).stdout
    stamp_value = (
        f"{VERSION} {flatc_version.strip()} {hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}"
    )
    stamp = FBS_OUT / ".stamp"
    if stamp.exists() and stamp.read_text() == stamp_value:
        return
    tarball = fetch_tarball()
    with tempfile.TemporaryDirectory(prefix="sfuctl-fbs-") as tmp:
        package = extract(tarball, Path(tmp))
        schemas = sorted((package / "worker" / "fbs").glob("*.fbs"))
        out = Path(tmp) / "gen"
        subprocess.run(
            [flatc, "--python", "--gen-object-api", "-o", str(out), *map(str, schemas)], check=True
        )
        gen = out / "FBS"
        subprocess.run(
            [flatc, "-b", "--schema", "-o", str(gen), str(package / "worker" / "fbs" / "message.fbs")],
            check=True,
        )
        for path in gen.rglob("*.py"):
            path.write_text(_FBS_REF.sub("sfuctl.server.media.fbs.", path.read_text()))
        (gen / "__init__.py").write_text(
            '"""Generated by flatc from mediasoup\'s worker/fbs; do not edit."""\n'
        )
        (gen / ".stamp").write_text(stamp_value)
        staging = FBS_OUT.with_name("fbs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(gen, staging)
        shutil.rmtree(FBS_OUT, ignore_errors=True)
        staging.replace(FBS_OUT)
    count = sum(1 for _ in FBS_OUT.rglob("*.py"))
    say(f"generated {count} FlatBuffers modules in {FBS_OUT.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if a cached binary exists")
    parser.add_argument("--fbs-only", action="store_true", help="only generate the Python FlatBuffers code")
    args = parser.parse_args()
    generate_fbs()
    if args.fbs_only:
        return
    install_binary(build_worker(args.force))
    say(f"worker ready: {PKG_BIN.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
