"""The server's certificate as files: generate a self-signed one, load and check a given one, inspect it.

Every problem is a :class:`CertificateError` whose message names the file and the cause in one
line, with a hint of what to do, so ``sfuctl serve`` and ``sfuctl doctor`` can print it as is.
Crypto is the ``cryptography`` package's; nothing here is hand-written crypto.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import shlex
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

VALID_DAYS = 365
RENEW_DAYS = 30
"""A generated certificate this close to expiry is generated anew; doctor warns this far ahead."""
CERT_NAME = "tls-cert.pem"
KEY_NAME = "tls-key.pem"
MAX_PEM_BYTES = 1024 * 1024


class CertificateError(Exception):
    """A certificate or key that cannot be used: ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class CertificateInfo:
    """What an operator checks about a certificate (the leaf of a chain)."""

    path: str
    subject: str
    names: tuple[str, ...]
    """The subject alternative names: DNS names and IP addresses."""
    not_before: datetime.datetime
    not_after: datetime.datetime
    sha256: str
    """SHA-256 fingerprint of the DER certificate, as colon-separated upper-case hex."""
    spki_sha256: str
    """Base64 SHA-256 of the public key (what Chromium's --ignore-certificate-errors-spki-list takes)."""
    self_signed: bool

    def days_left(self, now: datetime.datetime | None = None) -> float:
        now = now or utcnow()
        return (self.not_after - now).total_seconds() / 86400


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def fingerprint(der: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return digest.finalize().hex(":").upper()


def describe(cert: x509.Certificate, path: str) -> CertificateInfo:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(
            [str(n) for n in san.get_values_for_type(x509.DNSName)]
            + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        )
    except x509.ExtensionNotFound:
        names = ()
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spki_digest = hashes.Hash(hashes.SHA256())
    spki_digest.update(spki)
    return CertificateInfo(
        path=path,
        subject=cert.subject.rfc4514_string(),
        names=names,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=fingerprint(cert.public_bytes(serialization.Encoding.DER)),
        spki_sha256=base64.b64encode(spki_digest.finalize()).decode(),
        self_signed=cert.issuer == cert.subject,
    )


def _read(path: Path, what: str, option: str) -> bytes:
    if not path.exists():
        raise CertificateError(f"the TLS {what} {path} does not exist", f"{option} takes a PEM file")
    if path.is_dir():
        raise CertificateError(f"the TLS {what} {path} is a directory", f"{option} takes a PEM file")
    try:
        with path.open("rb") as file:
            return file.read(MAX_PEM_BYTES)
    except OSError as error:
        raise CertificateError(
            f"cannot read the TLS {what} {path}: {error.strerror or error}",
            f"run as a user who may read it (chmod/chown), or point {option} elsewhere",
        ) from None


def read_chain(path: Path) -> list[x509.Certificate]:
    """The PEM certificates of ``path``, leaf first; CertificateError when there are none."""
    data = _read(path, "certificate", "--tls-cert")
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        chain = []
    if not chain:
        raise CertificateError(
            f"the TLS certificate {path} holds no PEM certificate",
            "--tls-cert takes the PEM chain (BEGIN CERTIFICATE), e.g. certbot's fullchain.pem",
        )
    return chain


def read_key(path: Path) -> PrivateKeyTypes:
    data = _read(path, "key", "--tls-key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise CertificateError(
            f"the TLS key {path} is encrypted", "give the key without a passphrase (readable by sfuctl only)"
        ) from None
    except Exception as error:  # cryptography raises ValueError or UnsupportedAlgorithm
        raise CertificateError(
            f"the TLS key {path} is not a PEM private key ({type(error).__name__})",
            "--tls-key takes the PEM private key (BEGIN PRIVATE KEY), e.g. certbot's privkey.pem",
        ) from None


def inspect(cert_path: str | Path) -> CertificateInfo:
    """The leaf certificate of a PEM file, described (no key needed: doctor uses this)."""
    path = Path(cert_path)
    return describe(read_chain(path)[0], str(path))


def load(cert_path: str | Path, key_path: str | Path, check_dates: bool = True) -> CertificateInfo:
    """Check that the pair can serve now: both readable PEM, the key matches the leaf, in its dates."""
    cert_file, key_file = Path(cert_path), Path(key_path)
    chain = read_chain(cert_file)
    key = read_key(key_file)
    leaf = chain[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        raise CertificateError(
            f"the TLS key {key_file} does not match the certificate {cert_file}",
            "give the key the certificate was issued for (certbot: privkey.pem beside fullchain.pem)",
        )
    info = describe(leaf, str(cert_file))
    if check_dates:
        check_dates_of(info)
    return info


def check_dates_of(info: CertificateInfo, now: datetime.datetime | None = None) -> None:
    """CertificateError unless ``info`` is valid at ``now``."""
    cert_file = info.path
    now = now or utcnow()
    if info.not_after <= now:
        raise CertificateError(
            f"the TLS certificate {cert_file} expired on {info.not_after:%Y-%m-%d %H:%M} UTC",
            "renew it (e.g. `certbot renew`), or delete a generated one to have it made anew",
        )
    if info.not_before > now:
        raise CertificateError(
            f"the TLS certificate {cert_file} is not valid before {info.not_before:%Y-%m-%d %H:%M} UTC",
            "check this machine's clock, or give a certificate valid now",
        )


def wanted_names(announced: str | None, host: str) -> list[str]:
    """SANs of a generated certificate: what clients may type in the address bar to reach us."""
    names = [announced or "", host, socket.gethostname(), "localhost", "127.0.0.1", "::1"]
    wild = {"", "0.0.0.0", "::"}
    return list(dict.fromkeys(name for name in names if name not in wild))


def _general_names(names: Iterable[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
"""A self-signed server certificate is its own CA: it signs (TLS 1.3 handshakes) and certifies itself."""


def generate(
    cert_path: Path,
    key_path: Path,
    names: list[str],
    days: float = VALID_DAYS,
    valid_from: datetime.datetime | None = None,
) -> CertificateInfo:
    """A self-signed certificate for ``names`` (first one as the subject), the key written 0600.

    Both files are written next to their final name and renamed over it, so a server reloading
    them never reads half a file.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = valid_from or utcnow()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "sfuctl")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(KEY_USAGE, critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(key_path, key_pem, 0o600)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    except OSError as error:
        raise CertificateError(
            f"cannot write the TLS certificate into {cert_path.parent}: {error.strerror or error}",
            "point --tls-dir (SFUCTL_TLS_DIR) at a writable place, or give --tls-cert and --tls-key",
        ) from None
    return describe(cert, str(cert_path))


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def ensure_generated(directory: Path, names: list[str]) -> tuple[CertificateInfo, bool]:
    """The generated pair in ``directory``, made when missing, near expiry or lacking a wanted name.

    Returns the certificate and whether it was (re)generated now. A pair that exists but cannot
    be used (unreadable, key mismatch, a key others can read) is an error, not silently replaced:
    someone may rely on it, or have put it there.
    """
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if cert_path.exists() and key_path.exists():  # one of them deleted: made anew, as both would be
        info = load(cert_path, key_path, check_dates=False)
        _check_key_mode(key_path)
        if set(names) <= set(info.names) and info.days_left() > RENEW_DAYS:
            return info, False
    return generate(cert_path, key_path, names), True


def _check_key_mode(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise CertificateError(
            f"the TLS key {path} is readable or writable by group/others (mode {mode:04o})",
            f"chmod 600 {shlex.quote(str(path))}",
        )
