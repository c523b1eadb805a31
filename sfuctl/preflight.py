"""Checks of the machine against a ServerConfig: can its addresses and ports be bound here?

``sfuctl serve`` runs them before it spawns a worker (a busy port is then one clear line, not a
worker error after start-up), and ``sfuctl doctor`` shows the same results as its rows, so both
accept and reject the same things. The server still reports a port lost between check and use;
:func:`bind_problem` words that error the same way.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from sfuctl.server.config import ServerConfig


@dataclass
class Problem:
    """One reason the server cannot start here, and what to do about it."""

    message: str
    hint: str


def bind_problem(error: OSError, where: str, flag: str, host_flag: str = "--host") -> Problem:
    """An error binding ``where``, worded by its cause; ``flag`` and ``host_flag`` name the options."""
    if isinstance(error, socket.gaierror):
        return Problem(
            f"cannot resolve {where}: {error.strerror or error}",
            f"{host_flag} takes an IP address of this machine or a name that resolves to one",
        )
    code = error.errno
    if code == errno.EADDRINUSE:
        return Problem(
            f"cannot listen on {where}: address already in use",
            f"choose another {flag}, or stop what uses it (is sfuctl already running?)",
        )
    if code == errno.EADDRNOTAVAIL:
        return Problem(
            f"cannot listen on {where}: not an address of this machine",
            f"{host_flag} takes an address of this machine (`ip addr` lists them), or 0.0.0.0 for all",
        )
    if code == errno.EACCES:
        return Problem(
            f"cannot listen on {where}: permission denied",
            f"choose a {flag} of 1024 or above (lower ones need privileges)",
        )
    return Problem(
        f"cannot listen on {where}: {error.strerror or error}", "`sfuctl doctor` checks the set-up"
    )


def try_bind(host: str, port: int, kind: socket.SocketKind) -> OSError | None:
    """Bind every address ``host`` resolves to; the first error, or None when all bind."""
    if not 0 <= port <= 65535:
        return OSError(errno.EINVAL, f"port {port} is not in 0-65535")
    try:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_PASSIVE)
    except OSError as error:
        return error
    for family, sock_type, proto, _, address in infos:
        with socket.socket(family, sock_type, proto) as sock:
            if kind == socket.SOCK_STREAM:  # as the server binds (no false alarm from TIME_WAIT)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as error:
                return error
    return None


def where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def http_problem(config: ServerConfig) -> Problem | None:
    if config.port == 0:
        return None  # any free port
    error = try_bind(config.host, config.port, socket.SOCK_STREAM)
    return None if error is None else bind_problem(error, where(config.host, config.port), "--port")


def rtc_ip_problem(config: ServerConfig) -> Problem | None:
    error = try_bind(config.rtc_listen_ip, 0, socket.SOCK_DGRAM)
    if error is None:
        return None
    return bind_problem(error, f"{config.rtc_listen_ip} (--rtc-ip)", "--rtc-ip", host_flag="--rtc-ip")


def single_port_problem(config: ServerConfig) -> Problem | None:
    """Single-port mode: worker i needs port N+i (UDP, and TCP when enabled) on the RTC address."""
    base = config.webrtc_server_port
    if base is None:
        return None
    kinds = [(socket.SOCK_DGRAM, "udp")] + ([(socket.SOCK_STREAM, "tcp")] if config.enable_tcp else [])
    for port in range(base, base + config.workers):
        for kind, name in kinds:
            error = try_bind(config.rtc_listen_ip, port, kind)
            if error is not None:
                address = f"{where(config.rtc_listen_ip, port)}/{name}"
                problem = bind_problem(error, address, "--webrtc-server-port", host_flag="--rtc-ip")
                return Problem(
                    f"single-port mode (--webrtc-server-port {base}): {problem.message}", problem.hint
                )
    return None


def preflight(config: ServerConfig) -> list[Problem]:
    """Everything that would keep ``config`` from starting on this machine."""
    found = [check(config) for check in (http_problem, rtc_ip_problem, single_port_problem)]
    return [problem for problem in found if problem is not None]
