"""`sfuctl serve`: every server option as a flag, an SFUCTL_* variable or a key of the TOML file."""

from __future__ import annotations

import errno
import os
import shlex
from pathlib import Path
from typing import Any

import typer

from sfuctl.common import CliError, ExitCode, console, fail
from sfuctl.logs import setup_logging
from sfuctl.preflight import bind_problem, preflight, where
from sfuctl.server import __version__
from sfuctl.server.auth import TURN_SECRET, WEBHOOK_SECRET, AuthError, SecretError, resolve_secret
from sfuctl.server.cluster.cluster import ClusterStartError
from sfuctl.server.config import ServerConfig
from sfuctl.server.config_file import (
    LOG_LEVELS,
    ConfigError,
    build_server_config,
    default_config_path,
    find_config_file,
    layered,
    load_file,
    parse_assignment,
    schema,
)
from sfuctl.server.limits import Limits
from sfuctl.server.media.errors import MediaError
from sfuctl.server.media.worker import EXIT_WRONG_SETTINGS, WorkerSettings, WorkerStartError
from sfuctl.server.media.worker import LOG_LEVELS as WORKER_LOG_LEVELS
from sfuctl.server.media.worker_bin import MEDIASOUP_VERSION, WorkerBinaryNotFound, find_worker_bin
from sfuctl.server.recording.store import default_recordings_dir
from sfuctl.server.recording.store import recordings_dir as resolve_recordings_dir
from sfuctl.server.tls.certificate import CertificateError, inspect
from sfuctl.server.tls.setup import certificate_paths
from sfuctl.server.turn.settings import TurnSettings
from sfuctl.server.turn.supervisor import TurnStartError

EXIT_WRONG_VERSION = 41
"""mediasoup-worker's exit code when MEDIASOUP_VERSION is not its own version."""

NAME = "serve"

PARAMETER_KEYS = {
    "host": "host",
    "port": "port",
    "workers": "workers",
    "rtc_min_port": "worker.rtc_min_port",
    "rtc_max_port": "worker.rtc_max_port",
    "rtc_ip": "rtc_listen_ip",
    "announced_address": "announced_address",
    "tcp": "enable_tcp",
    "webrtc_server_port": "webrtc_server_port",
    "tls": "tls",
    "tls_cert": "tls_cert",
    "tls_key": "tls_key",
    "tls_dir": "tls_dir",
    "tls_watch_seconds": "tls_watch_seconds",
    "log_level": "log_level",
    "log_format": "log_format",
    "worker_log_level": "worker.log_level",
    "login_mode": "login_mode",
    "api_key": "api_key",
    "secret_file": "secret_file",
    "turn": "turn.enabled",
    "turn_port": "turn.port",
    "turn_tls_port": "turn.tls_port",
    "turn_ip": "turn.listen_ip",
    "turn_min_port": "turn.relay_min_port",
    "turn_max_port": "turn.relay_max_port",
    "turn_ttl": "turn.credential_ttl_seconds",
    "ice_server": "turn.ice_servers",
    "turn_secret_file": "turn.secret_file",
    "webhook_url": "webhook_urls",
    "webhook_secret_file": "webhook_secret_file",
    "recordings_dir": "recordings_dir",
    "max_peers_per_room": "limits.max_peers_per_room",
    "max_producers_per_peer": "limits.max_producers_per_peer",
    "max_consumers_per_peer": "limits.max_consumers_per_peer",
    "requests_per_second": "limits.requests_per_second",
    "max_message_bytes": "limits.max_message_bytes",
    "redis": "redis",
    "node_id": "node_id",
    "public_url": "public_url",
    "node_address": "node_address",
    "node_ttl": "node_ttl_seconds",
}
"""CLI parameter → dotted config key (see server.config_file)."""

EPILOG = f"""[b]Examples[/b]

  sfuctl serve

  sfuctl serve --port 8080 --workers 2 --rtc-min-port 50000 --rtc-max-port 50999

  sfuctl serve --announced-address sfu.example.com --login-mode apikey --api-key "$KEY"

  sfuctl serve --tls --announced-address 192.0.2.10

  sfuctl serve --tls --tls-cert /etc/letsencrypt/live/sfu/fullchain.pem --tls-key .../privkey.pem

  SFUCTL_PORT=8080 SFUCTL_LOG_FORMAT=json sfuctl serve

  sfuctl serve --config ./sfuctl.toml --limit max_peers_per_room=20

  sfuctl serve --turn --announced-address 203.0.113.7

  sfuctl serve --ice-server turn:turn.example.com:3478 --turn-secret-file /etc/sfuctl/turn-secret

  sfuctl serve --redis redis://10.0.0.5:6379/0 --node-address 10.0.0.11 --public-url https://sfu1.example.com

Precedence: flag > SFUCTL_* env > config file > default. The config file is --config / SFUCTL_CONFIG,
else {default_config_path()} when it exists; its keys are the option names with underscores,
with \\[worker] (log_level, rtc_min_port, rtc_max_port, ...), \\[limits] and \\[turn] tables.
"""


SERVER = ServerConfig()
WORKER = WorkerSettings()
LIMITS = Limits()
TURN = TurnSettings()
"""The defaults shown and used by the options: the dataclasses' own, never copies."""


def limit_help(name: str, text: str) -> str:
    value = getattr(LIMITS, name)
    shown = int(value) if isinstance(value, float) and value.is_integer() else value
    return f"{text}  \\[default: {shown}]"


def gather(ctx: typer.Context, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split parameters into the default layer and the flag/env layer (click knows which is which)."""
    defaults: dict[str, Any] = {}
    given: dict[str, Any] = {}
    for param, key in PARAMETER_KEYS.items():
        value = values[param]
        if isinstance(value, tuple | list):  # a repeatable option: click gives a tuple, () when absent
            value = list(value) or None
        source = ctx.get_parameter_source(param)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            given[key] = value
        elif value is not None:
            defaults[key] = value
    return defaults, given


def serve(
    ctx: typer.Context,
    config_file: str = typer.Option(
        None, "--config", "-c", envvar="SFUCTL_CONFIG", help="TOML config file.", show_default=False
    ),
    host: str = typer.Option(SERVER.host, envvar="SFUCTL_HOST", help="Address to listen on."),
    port: int = typer.Option(SERVER.port, envvar="SFUCTL_PORT", help="HTTP and WebSocket port."),
    workers: int = typer.Option(
        None,
        envvar="SFUCTL_WORKERS",
        help="mediasoup workers to run.  \\[default: CPU count]",
        show_default=False,
    ),
    rtc_min_port: int = typer.Option(
        WORKER.rtc_min_port, envvar="SFUCTL_RTC_MIN_PORT", help="Lowest RTC (media) port."
    ),
    rtc_max_port: int = typer.Option(
        WORKER.rtc_max_port, envvar="SFUCTL_RTC_MAX_PORT", help="Highest RTC (media) port."
    ),
    rtc_ip: str = typer.Option(
        SERVER.rtc_listen_ip, envvar="SFUCTL_RTC_IP", help="Address media sockets bind to."
    ),
    announced_address: str = typer.Option(
        None,
        envvar="SFUCTL_ANNOUNCED_ADDRESS",
        help="Address or hostname put in ICE candidates (NAT/cloud).  \\[default: detected]",
        show_default=False,
    ),
    tcp: bool = typer.Option(
        SERVER.enable_tcp, "--tcp/--no-tcp", envvar="SFUCTL_TCP", help="Also offer ICE over TCP."
    ),
    webrtc_server_port: int = typer.Option(
        None,
        envvar="SFUCTL_WEBRTC_SERVER_PORT",
        help="Single-port mode: worker i shares UDP/TCP port N+i for all its transports.",
        show_default=False,
    ),
    tls: bool = typer.Option(
        SERVER.tls,
        "--tls/--no-tls",
        envvar="SFUCTL_TLS",
        help="HTTPS and WSS on --port (camera and microphone need it off this machine).",
    ),
    tls_cert: str = typer.Option(
        None,
        envvar="SFUCTL_TLS_CERT",
        help="PEM certificate chain for --tls.  \\[default: a generated self-signed one]",
        show_default=False,
    ),
    tls_key: str = typer.Option(
        None, envvar="SFUCTL_TLS_KEY", help="PEM private key of --tls-cert.", show_default=False
    ),
    tls_dir: str = typer.Option(
        None,
        envvar="SFUCTL_TLS_DIR",
        help="Where the generated certificate is kept.  \\[default: the config dir]",
        show_default=False,
    ),
    tls_watch_seconds: float = typer.Option(
        SERVER.tls_watch_seconds,
        envvar="SFUCTL_TLS_WATCH_SECONDS",
        help="Seconds between checks of the certificate files for a renewal (0: SIGHUP only).",
    ),
    log_level: str = typer.Option(
        SERVER.log_level, envvar="SFUCTL_LOG_LEVEL", help=f"{', '.join(LOG_LEVELS)}."
    ),
    log_format: str = typer.Option("text", envvar="SFUCTL_LOG_FORMAT", help="text, or json (JSON lines)."),
    worker_log_level: str = typer.Option(
        WORKER.log_level,
        envvar="SFUCTL_WORKER_LOG_LEVEL",
        help=f"mediasoup worker log level: {', '.join(WORKER_LOG_LEVELS)}.",
    ),
    login_mode: str = typer.Option(
        SERVER.login_mode,
        envvar="SFUCTL_LOGIN_MODE",
        help="POST /login: open, apikey (needs --api-key) or off.",
    ),
    api_key: str = typer.Option(
        None, envvar="SFUCTL_API_KEY", help="API key for --login-mode apikey.", show_default=False
    ),
    secret: str = typer.Option(
        None, help="JWT secret (HS256, 32+ bytes); prefer SFUCTL_SECRET or a file.", show_default=False
    ),
    secret_file: str = typer.Option(
        None,
        envvar="SFUCTL_SECRET_FILE",
        help="File holding the JWT secret (created on first run).  \\[default: in the config dir]",
        show_default=False,
    ),
    turn: bool = typer.Option(
        TURN.enabled,
        "--turn/--no-turn",
        envvar="SFUCTL_TURN",
        help="Run and supervise a TURN server (coturn).",
    ),
    turn_port: int = typer.Option(TURN.port, envvar="SFUCTL_TURN_PORT", help="TURN port (UDP and TCP)."),
    turn_tls_port: int = typer.Option(
        TURN.tls_port,
        envvar="SFUCTL_TURN_TLS_PORT",
        help="TURN over TLS port (turns:), with a TLS certificate.",
    ),
    turn_ip: str = typer.Option(
        TURN.listen_ip, envvar="SFUCTL_TURN_IP", help="Address the TURN server binds to."
    ),
    turn_min_port: int = typer.Option(
        TURN.relay_min_port, envvar="SFUCTL_TURN_MIN_PORT", help="Lowest TURN relay port."
    ),
    turn_max_port: int = typer.Option(
        TURN.relay_max_port, envvar="SFUCTL_TURN_MAX_PORT", help="Highest TURN relay port."
    ),
    turn_ttl: int = typer.Option(
        TURN.credential_ttl_seconds,
        envvar="SFUCTL_TURN_TTL",
        help="Lifetime of a peer's TURN credential (s).",
    ),
    ice_server: list[str] = typer.Option(  # noqa: B008
        None,
        "--ice-server",
        envvar="SFUCTL_ICE_SERVERS",
        metavar="URL",
        help="Your own STUN/TURN server for the peers (stun:, turn:, turns: URL), repeatable.",
        show_default=False,
    ),
    turn_secret: str = typer.Option(
        None,
        help="TURN REST secret (32+ bytes) shared with coturn; prefer SFUCTL_TURN_SECRET.",
        show_default=False,
    ),
    turn_secret_file: str = typer.Option(
        None,
        envvar="SFUCTL_TURN_SECRET_FILE",
        help="File holding the TURN secret (created on first use).  \\[default: in the config dir]",
        show_default=False,
    ),
    webhook_url: list[str] = typer.Option(  # noqa: B008
        None,
        "--webhook-url",
        envvar="SFUCTL_WEBHOOK_URLS",
        help="Endpoint for signed webhook events, repeatable (env: space-separated).",
        show_default=False,
    ),
    webhook_secret: str = typer.Option(
        None,
        help="Webhook signing secret (32+ bytes); prefer SFUCTL_WEBHOOK_SECRET or a file.  "
        "\\[default: generated into --webhook-secret-file]",
        show_default=False,
    ),
    webhook_secret_file: str = typer.Option(
        None,
        envvar="SFUCTL_WEBHOOK_SECRET_FILE",
        help="File holding the webhook secret (created on first use).  \\[default: in the config dir]",
        show_default=False,
    ),
    recordings_dir: str = typer.Option(
        None,
        envvar="SFUCTL_RECORDINGS_DIR",
        help=f"Where recordings are written.  \\[default: {default_recordings_dir()}]",
        show_default=False,
    ),
    max_peers_per_room: int = typer.Option(
        None,
        envvar="SFUCTL_MAX_PEERS_PER_ROOM",
        help=limit_help("max_peers_per_room", "Limit: peers per room."),
        show_default=False,
    ),
    max_producers_per_peer: int = typer.Option(
        None,
        envvar="SFUCTL_MAX_PRODUCERS_PER_PEER",
        help=limit_help("max_producers_per_peer", "Limit: producers per peer."),
        show_default=False,
    ),
    max_consumers_per_peer: int = typer.Option(
        None,
        envvar="SFUCTL_MAX_CONSUMERS_PER_PEER",
        help=limit_help("max_consumers_per_peer", "Limit: consumers per peer."),
        show_default=False,
    ),
    requests_per_second: float = typer.Option(
        None,
        envvar="SFUCTL_REQUESTS_PER_SECOND",
        help=limit_help("requests_per_second", "Limit: signaling requests/s per connection."),
        show_default=False,
    ),
    max_message_bytes: int = typer.Option(
        None,
        envvar="SFUCTL_MAX_MESSAGE_BYTES",
        help=limit_help("max_message_bytes", "Limit: largest WebSocket message (bytes)."),
        show_default=False,
    ),
    redis: str = typer.Option(
        None,
        envvar="SFUCTL_REDIS_URL",
        metavar="URL",
        help="Join the cluster whose state is in this Redis (redis://HOST:6379/0).  \\[default: single node]",
        show_default=False,
    ),
    node_id: str = typer.Option(
        None,
        envvar="SFUCTL_NODE_ID",
        help="This node's id in the cluster.  \\[default: generated once into the state dir]",
        show_default=False,
    ),
    public_url: str = typer.Option(
        None,
        envvar="SFUCTL_PUBLIC_URL",
        help="URL clients reach this node at (POST /login hands it out).  \\[default: from --host/--port]",
        show_default=False,
    ),
    node_address: str = typer.Option(
        None,
        envvar="SFUCTL_NODE_ADDRESS",
        help="IP other nodes send this node's media to (pipe transports).  \\[default: --rtc-ip]",
        show_default=False,
    ),
    node_ttl: float = typer.Option(
        SERVER.node_ttl_seconds,
        envvar="SFUCTL_NODE_TTL",
        help="Seconds after which a silent node is dead for the others (its peers leave).",
    ),
    limit: list[str] = typer.Option(  # noqa: B008
        None,
        "--limit",
        metavar="KEY=VALUE",
        help="Any other limit (see \\[limits] keys), repeatable.",
        show_default=False,
    ),
) -> None:
    """Run the SFU server in the foreground (Ctrl-C or SIGTERM stops it cleanly)."""
    values = {param: value for param, value in ctx.params.items() if param in PARAMETER_KEYS}
    try:
        config, path, log_format = resolve(
            ctx, values, config_file, secret, limit or [], turn_secret, webhook_secret
        )
    except CliError as error:
        fail(error)
    setup_logging(config.log_level, log_format)
    start(config, path)


def resolve(
    ctx: typer.Context,
    values: dict[str, Any],
    config_flag: str | None,
    secret: str | None,
    limits: list[str],
    turn_secret: str | None = None,
    webhook_secret: str | None = None,
) -> tuple[ServerConfig, Path | None, str]:
    """The final ServerConfig, the config file used, and the log format."""
    try:
        defaults, given = gather(ctx, values)
        if "webrtc_server_port" in given and "webrtc_server_port" not in schema():
            raise CliError(
                "single-port mode (--webrtc-server-port) is not supported by this server build",
                "ServerConfig needs a webrtc_server_port field wired into the signaling transports",
                ExitCode.USAGE,
            )
        defaults.pop("webrtc_server_port", None)
        for text in limits:
            key, value = parse_assignment(text)
            given[f"limits.{key}"] = value
        path = find_config_file(config_flag)
        file_values = load_file(path) if path else {}
        merged = layered({**layered({}, defaults), **file_values}, given)
        try:
            resolved = resolve_secret(secret, merged.get("secret_file"), create=True)
        except SecretError as error:
            raise CliError(str(error), error.hint, ExitCode.USAGE) from None
        except AuthError as error:
            raise CliError(str(error), "give a secret of 32+ bytes", ExitCode.USAGE) from None
        turn = ("", "")
        if needs_turn_secret(merged):
            try:
                found = resolve_secret(
                    turn_secret, merged.get("turn.secret_file"), create=True, kind=TURN_SECRET
                )
            except SecretError as error:
                raise CliError(str(error), error.hint, ExitCode.USAGE) from None
            turn = (found.value, found.source)
        config = build_server_config(merged, resolved.value, resolved.source, turn)
        if config.webhook_urls:
            try:
                hook = resolve_secret(
                    webhook_secret, merged.get("webhook_secret_file"), create=True, kind=WEBHOOK_SECRET
                )
            except SecretError as error:
                raise CliError(str(error), error.hint, ExitCode.USAGE) from None
            config.webhook_secret, config.webhook_secret_source = hook.value, hook.source
    except ConfigError as error:
        raise CliError(str(error), error.hint or "see `sfuctl serve --help`", ExitCode.USAGE) from None
    return config, path, str(merged.get("log_format", "text"))


def needs_turn_secret(merged: dict[str, Any]) -> bool:
    """A managed coturn, or an external turn:/turns: URL to mint credentials for."""
    urls = merged.get("turn.ice_servers") or []
    return bool(merged.get("turn.enabled")) or any(str(u).startswith(("turn:", "turns:")) for u in urls)


def start(config: ServerConfig, config_path: Path | None) -> None:
    """Check the machine (as doctor does), then run; every failure is one line with its hint."""
    from sfuctl.server.serve import run

    problems = preflight(config)
    if problems:
        fail(CliError(problems[0].message, problems[0].hint, ExitCode.USAGE))

    started = False

    def ready(urls: list[str]) -> None:
        nonlocal started
        started = True
        for line in banner(config, urls, config_path):
            console.print(line, soft_wrap=True, highlight=False)

    try:
        run(config, ready)
    except Exception as error:  # a start-up failure in the words of its cause; the rest: main's last resort
        known = None if started else start_error(config, error)
        if known is None:
            raise
        fail(known)


def worker_binary(config: ServerConfig) -> str | None:
    try:
        return config.worker.worker_bin or find_worker_bin()
    except WorkerBinaryNotFound:
        return None


def start_error(config: ServerConfig, error: Exception) -> CliError | None:
    """What start-up failed on, in the words of its cause; None when it is none of the known ones."""
    usage = ExitCode.USAGE
    if isinstance(error, TurnStartError | ClusterStartError):
        return CliError(str(error), error.hint, usage)
    override = os.environ.get("SFUCTL_WORKER_BIN")
    other_bin = f"point SFUCTL_WORKER_BIN at a mediasoup-worker {MEDIASOUP_VERSION} binary"
    if isinstance(error, WorkerBinaryNotFound):
        if override and os.path.isfile(override):
            return CliError(str(error), f"chmod +x {shlex.quote(override)}, or {other_bin}", usage)
        if override:
            return CliError(str(error), other_bin, usage)
        return CliError(str(error), "run `make setup` (builds it), or " + other_bin, usage)
    if isinstance(error, CertificateError):
        return CliError(str(error), error.hint, usage)
    binary = worker_binary(config)
    if isinstance(error, OSError) and binary is not None and error.filename == binary:
        why = error.strerror or str(error)
        source = f"SFUCTL_WORKER_BIN={binary}" if override else binary
        hint = f"chmod +x {shlex.quote(binary)}, or {other_bin}" if error.errno == errno.EACCES else other_bin
        return CliError(f"cannot run the worker {source}: {why}", hint, usage)
    if isinstance(error, WorkerStartError):
        source = f" (SFUCTL_WORKER_BIN={override})" if override else ""
        if error.exit_code == EXIT_WRONG_SETTINGS:
            hint = (
                "the worker refused its settings (its log line is above): check --worker-log-level, RTC ports"
            )
        elif error.exit_code == EXIT_WRONG_VERSION:
            hint = f"this worker is not version {MEDIASOUP_VERSION}: {other_bin}"
        else:
            hint = f"its output is logged above; `sfuctl doctor` runs it once; or {other_bin}"
        return CliError(f"{error}{source}", hint, usage)
    if (
        isinstance(error, MediaError)
        and config.webrtc_server_port is not None
        and "already in use" in str(error)
    ):
        base = config.webrtc_server_port
        return CliError(
            f"single-port mode (--webrtc-server-port {base}): {error}",
            "choose another --webrtc-server-port, or stop what uses it",
            usage,
        )
    if isinstance(error, MediaError | TimeoutError):
        return CliError(
            f"the media worker failed at start-up: {type(error).__name__}: {error}",
            "`sfuctl doctor` checks the worker and the set-up",
            ExitCode.FAILED,
        )
    if isinstance(error, OSError):
        problem = bind_problem(error, where(config.host, config.port), "--port")
        return CliError(problem.message, problem.hint, usage)
    return None


def banner(config: ServerConfig, urls: list[str], config_path: Path | None) -> list[str]:
    """What an operator needs first: where to connect, where the docs and the secret are."""
    scheme = "https" if config.tls else "http"
    local = urls[0] if urls else f"{scheme}://{config.host}:{config.port}"
    if config.host in ("0.0.0.0", "::"):
        port = local.rsplit(":", 1)[-1]
        local = f"{scheme}://127.0.0.1:{port}"
    worker = config.worker
    single_port = getattr(config, "webrtc_server_port", None)
    if single_port:
        last = single_port + config.workers - 1
        rtc = f"{single_port}" if last == single_port else f"{single_port}-{last}"
        rtc += " (WebRtcServer, shared)"
    else:
        rtc = f"{worker.rtc_min_port}-{worker.rtc_max_port}"
    rtc += " udp+tcp" if config.enable_tcp else " udp"
    announced = config.announced_address or "detected from the interfaces"
    lines = [
        f"[bold green]sfuctl[/] {__version__} listening on {', '.join(urls)}",
        f"  health: {local}/health   docs: {local}/docs   workers: {config.workers}   RTC ports: {rtc}",
        f"  announced address: {announced}   login: {config.login_mode}",
        f"  secret: {config.secret_source}   config: {config_path or 'none'}",
        f"  recordings: {resolve_recordings_dir(config.recordings_dir)}",
        *(
            [f"  webhooks: {len(config.webhook_urls)} endpoint(s), secret: {config.webhook_secret_source}"]
            if config.webhook_urls
            else []
        ),
    ]
    turn = config.turn
    if turn.enabled:
        lines.append(
            f"  TURN: coturn on {turn.port} udp+tcp, relay ports {turn.relay_min_port}-{turn.relay_max_port}"
            f"   TURN secret: {turn.secret_source}"
        )
    if turn.ice_servers:
        lines.append(f"  ICE servers: {', '.join(turn.ice_servers)}")
    if config.redis:
        lines.append(
            f"  cluster: {config.redis}   node id: {config.node_id or 'from the state dir'}   "
            f"node address: {config.node_address or config.rtc_listen_ip}"
        )
    if config.tls:
        lines.extend(tls_banner(config))
    return lines


def tls_banner(config: ServerConfig) -> list[str]:
    """The certificate in use, and how a client trusts a generated one."""
    cert_path, _ = certificate_paths(config)
    try:
        info = inspect(cert_path)
    except CertificateError as error:  # replaced between start-up and now: the server still serves
        return [f"  TLS certificate: {error}"]
    lines = [
        f"  TLS certificate: {cert_path}   expires {info.not_after:%Y-%m-%d}   "
        f"names: {', '.join(info.names)}",
        f"  SHA-256 fingerprint: {info.sha256}",
    ]
    if info.self_signed:
        lines.append(
            f"  self-signed: clients trust it with --cacert {cert_path} (curl, sfuctl) "
            "or accept it in the browser once"
        )
    return lines


command = serve
