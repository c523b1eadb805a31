"""Which certificate the server uses, from its config: the given pair, or the generated one."""

from __future__ import annotations

import logging
from pathlib import Path

import platformdirs

from sfuctl.server.config import ServerConfig, detect_announced_address
from sfuctl.server.tls.certificate import CERT_NAME, KEY_NAME, ensure_generated, load, wanted_names
from sfuctl.server.tls.context import ReloadingContext

log = logging.getLogger("sfuctl.server.tls")


def default_tls_dir() -> Path:
    """Next to the JWT secret: the state sfuctl keeps for itself."""
    return Path(platformdirs.user_config_dir("sfuctl"))


def tls_dir(config: ServerConfig) -> Path:
    return Path(config.tls_dir).expanduser() if config.tls_dir else default_tls_dir()


def certificate_paths(config: ServerConfig) -> tuple[Path, Path]:
    """The pair the server serves (or would serve) with this config."""
    if config.tls_cert and config.tls_key:
        return Path(config.tls_cert).expanduser(), Path(config.tls_key).expanduser()
    directory = tls_dir(config)
    return directory / CERT_NAME, directory / KEY_NAME


def generated_names(config: ServerConfig) -> list[str]:
    announced = config.announced_address
    if announced is None and config.rtc_listen_ip in ("0.0.0.0", "::"):
        announced = detect_announced_address()
    return wanted_names(announced or config.rtc_listen_ip, config.host)


def server_tls(config: ServerConfig) -> ReloadingContext | None:
    """None without TLS; else the checked pair in a reloadable context (CertificateError if unusable)."""
    if not config.tls:
        return None
    cert_path, key_path = certificate_paths(config)
    if config.tls_cert and config.tls_key:
        info = load(cert_path, key_path)
    else:
        info, made = ensure_generated(tls_dir(config), generated_names(config))
        if made:
            log.info("TLS: generated a self-signed certificate %s for %s, valid until %s", cert_path,
                     ", ".join(info.names), f"{info.not_after:%Y-%m-%d}")  # fmt: skip
    return ReloadingContext(cert_path, key_path, info)
