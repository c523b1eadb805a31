"""The network lab: hosts in network namespaces on a shared "internet", with NAT and firewalls.

Everything lives in namespaces the lab creates (their names carry a per-run tag, so parallel
runs never meet) and uses addresses from 198.18.0.0/15 only, the range set aside for network
benchmarks (RFC 2544): the "internet" is 198.18.0.0/24 on a bridge inside its own namespace,
private networks are 198.19.N.0/24 behind routers that NAT with nftables. Nothing is created in
the machine's own namespace, and :meth:`Lab.close` removes every namespace (and so every
interface and rule in it) and ends every process started in one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import orjson

INTERNET = "198.18.0"
"""The public network: 198.18.0.0/24."""


class LabUnavailable(Exception):
    """Namespaces cannot be made here: not root. The only reason the lab skips."""


def check_available() -> None:
    """Skip (LabUnavailable) when not root; fail when a tool that `make setup` installs is missing."""
    if os.geteuid() != 0:
        raise LabUnavailable("the network lab needs root (network namespaces): run the tests as root")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"the network lab needs {tool!r}: `make setup` (iproute2, nftables)")


def run(*argv: str, namespace: str | None = None, stdin: str | None = None) -> str:
    command = ["ip", "netns", "exec", namespace, *argv] if namespace else list(argv)
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


@dataclass
class Host:
    """A namespace with one interface; ``address`` is where others reach it."""

    name: str
    namespace: str
    address: str


@dataclass
class Lab:
    tag: str = field(default_factory=lambda: f"sfl{os.getpid() % 100000}")
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    _links: int = 0

    def __post_init__(self) -> None:
        check_available()
        try:
            self.internet = self._namespace("inet")
            run("ip", "link", "add", "br0", "type", "bridge", namespace=self.internet)
            run("ip", "link", "set", "br0", "up", namespace=self.internet)
        except BaseException:
            self.close()  # nothing half-made is left behind
            raise

    # -- building ---------------------------------------------------------------------------------

    def _namespace(self, role: str) -> str:
        name = f"{self.tag}-{role}"
        self.namespaces.append(name)  # first: close() removes it even if what follows fails
        run("ip", "netns", "add", name)
        run("ip", "link", "set", "lo", "up", namespace=name)
        return name

    def _link(self, a: str, b: str) -> tuple[str, str]:
        """A veth pair between namespaces ``a`` and ``b``; the names of its two ends."""
        self._links += 1
        end_a, end_b = f"v{self._links}a", f"v{self._links}b"
        run("ip", "link", "add", end_a, "netns", a, "type", "veth", "peer", "name", end_b, "netns", b)
        for namespace, end in ((a, end_a), (b, end_b)):
            run("ip", "link", "set", end, "up", namespace=namespace)
        return end_a, end_b

    def _on_internet(self, namespace: str, last_octet: int) -> tuple[str, str]:
        inside, bridge_port = self._link(namespace, self.internet)
        run("ip", "link", "set", bridge_port, "master", "br0", namespace=self.internet)
        address = f"{INTERNET}.{last_octet}"
        run("ip", "addr", "add", f"{address}/24", "dev", inside, namespace=namespace)
        return inside, address

    def public_host(self, role: str, last_octet: int) -> Host:
        """A host with a public address on the internet."""
        namespace = self._namespace(role)
        _, address = self._on_internet(namespace, last_octet)
        return Host(role, namespace, address)

    def _router(self, role: str, last_octet: int, subnet: int) -> tuple[str, str, str, str]:
        """A router between the internet and 198.19.<subnet>.0/24: (namespace, wan, wan address, lan)."""
        router = self._namespace(f"{role}-gw")
        wan, wan_address = self._on_internet(router, last_octet)
        run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1", namespace=router)
        return router, wan, wan_address, f"198.19.{subnet}"

    def _private_host(self, role: str, router: str, lan: str) -> Host:
        namespace = self._namespace(role)
        inside, router_side = self._link(namespace, router)
        run("ip", "addr", "add", f"{lan}.1/24", "dev", router_side, namespace=router)
        run("ip", "addr", "add", f"{lan}.10/24", "dev", inside, namespace=namespace)
        run("ip", "route", "add", "default", "via", f"{lan}.1", namespace=namespace)
        return Host(role, namespace, f"{lan}.10")

    def nat_client(self, role: str, last_octet: int, subnet: int, drop_udp: bool = False) -> Host:
        """A client behind a home NAT (masquerade); with ``drop_udp``, a firewall that lets no UDP
        out, as many corporate and hotel networks do (only TCP reaches the internet)."""
        router, wan, _, lan = self._router(role, last_octet, subnet)
        host = self._private_host(role, router, lan)
        drop = "meta l4proto udp drop;" if drop_udp else ""
        self.nft(router, f"""
            table ip lab {{
              chain forward {{ type filter hook forward priority 0; policy accept; {drop} }}
              chain postrouting {{ type nat hook postrouting priority 100; oifname "{wan}" masquerade; }}
            }}""")  # fmt: skip
        return host

    def cloud_server(self, role: str, last_octet: int, subnet: int) -> tuple[Host, str]:
        """A server with only a private address behind a 1:1 NAT: (the host, its public address)."""
        router, wan, public, lan = self._router(role, last_octet, subnet)
        host = self._private_host(role, router, lan)
        self.nft(router, f"""
            table ip lab {{
              chain prerouting {{ type nat hook prerouting priority -100;
                iifname "{wan}" ip daddr {public} dnat to {host.address}; }}
              chain postrouting {{ type nat hook postrouting priority 100;
                oifname "{wan}" ip saddr {host.address} snat to {public}; }}
            }}""")  # fmt: skip
        return host, public

    def host_firewall(self, host: Host, tcp: str, udp: str, output: str = "") -> None:
        """Let into ``host`` only new connections to these ports (nft sets, e.g. "3001, 40000-40999"),
        as a server's firewall opened by the README's list would; replies and loopback pass.
        ``output``: rules of its output chain (what the README advises for the TURN relay), which
        may count into the counter ``dropped`` (see :meth:`dropped`)."""
        self.nft(host.namespace, f"""
            table inet lab {{
              counter dropped {{ }}
              chain input {{ type filter hook input priority 0; policy drop;
                iifname "lo" accept; ct state established,related accept; meta l4proto icmp accept;
                tcp dport {{ {tcp} }} accept; udp dport {{ {udp} }} accept; }}
              chain output {{ type filter hook output priority 0; policy accept; {output} }}
            }}""")  # fmt: skip

    def dropped(self, host: Host) -> int:
        """Packets counted by the ``dropped`` counter of ``host``'s firewall."""
        listed = orjson.loads(
            run("nft", "-j", "list", "counter", "inet", "lab", "dropped", namespace=host.namespace)
        )
        return next(int(item["counter"]["packets"]) for item in listed["nftables"] if "counter" in item)

    def nft(self, namespace: str, ruleset: str) -> None:
        run("nft", "-f", "-", namespace=namespace, stdin=ruleset)

    # -- running ---------------------------------------------------------------------------------

    def spawn(
        self, host: Host, argv: list[str], env: dict[str, str] | None = None, log: Path | None = None
    ) -> subprocess.Popen[str]:
        """A process in ``host``'s namespace (its own process group, ended by :meth:`close`).

        Its output is a pipe for the test to read, or the file ``log`` for a long-running process
        nobody reads (a full pipe would stall it)."""
        with open(log, "w") if log else contextlib.nullcontext() as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", host.namespace, *argv],
                stdin=subprocess.PIPE, stdout=out or subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env=env, start_new_session=True, cwd=Path(__file__).resolve().parents[2],
            )  # fmt: skip
        self.processes.append(process)
        return process

    def close(self) -> None:
        """End every process (TERM, then KILL after 15 s), then remove every namespace."""
        try:
            for process in self.processes:
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGTERM)
            for process in self.processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=15)
                for stream in (process.stdin, process.stdout):
                    if stream is not None:
                        with contextlib.suppress(OSError, ValueError):
                            stream.close()
        finally:
            for namespace in reversed(self.namespaces):
                subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=20)
            self.namespaces.clear()
