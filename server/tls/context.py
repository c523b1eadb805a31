"""The listener's SSLContext, built from the certificate files and swapped when they change.

The listener keeps one context for its whole life; its SNI callback (run for every handshake,
with or without SNI) hands each new connection the *current* context. A reload builds a
complete new context from the files and swaps it in only when it loads: connections already
open keep theirs, a bad renewal (half-written, key mismatch, expired) is logged and the
certificate in use stays. Reloads come from SIGHUP and from polling the files' stamps.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from pathlib import Path

from sfuctl.server.tls.certificate import CertificateError, CertificateInfo, load

log = logging.getLogger("sfuctl.server.tls")

Stamp = tuple[tuple[int, int, int], ...]


def build_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server context for the pair: TLS 1.2+, the standard library's default ciphers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert_path), str(key_path))
    except (ssl.SSLError, OSError) as error:
        raise CertificateError(
            f"OpenSSL refused the TLS pair {cert_path} / {key_path}: {error}",
            "give a PEM certificate chain and its private key",
        ) from None
    return context


def stamp(paths: tuple[Path, ...]) -> Stamp:
    """What changes when a file is rewritten or its symlink repointed (certbot's live/ links)."""
    stamps = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamps.append((0, 0, 0))
        else:
            stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(stamps)


class ReloadingContext:
    """The certificate pair in use and the context the listener serves it with."""

    def __init__(self, cert_path: Path, key_path: Path, info: CertificateInfo) -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self.info = info
        self.current = build_context(cert_path, key_path)
        self._stamp = stamp((cert_path, key_path))
        self.listener = build_context(cert_path, key_path)
        self.listener.sni_callback = self._pick
        self.reloads = 0

    def _pick(self, connection: ssl.SSLObject, _server_name: str | None, _context: ssl.SSLContext) -> None:
        connection.context = self.current

    def reload(self, reason: str) -> bool:
        """Load the files again; True when the new pair is in use, False (and logged) otherwise."""
        self._stamp = stamp((self.cert_path, self.key_path))
        try:
            info = load(self.cert_path, self.key_path)
            context = build_context(self.cert_path, self.key_path)
        except CertificateError as error:
            log.warning("TLS reload (%s) failed, keeping %s: %s", reason, self.info.sha256, error)
            return False
        old, self.current, self.info = self.info, context, info
        self.reloads += 1
        log.info("TLS certificate reloaded (%s): %s -> %s, expires %s", reason, old.sha256, info.sha256,
                 f"{info.not_after:%Y-%m-%d}")  # fmt: skip
        return True

    def changed(self) -> bool:
        return stamp((self.cert_path, self.key_path)) != self._stamp

    async def watch(self, interval: float) -> None:
        """Reload whenever the files' stamps change; runs until cancelled."""
        while True:
            await asyncio.sleep(interval)
            if self.changed():
                # A renewal writes two files: let the second land before reading them.
                await asyncio.sleep(min(interval, 1.0))
                self.reload("files changed")
