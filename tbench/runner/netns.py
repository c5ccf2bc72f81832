"""An emulated link between two network namespaces (`tbench run --network`), removed on exit.

Layout (per target measured): the server's namespace `tb-<pid>-<n>-s` and the load generator's
`tb-<pid>-<n>-c`, joined by the shaped path `tbpath` (a veth pair with netem where the kernel
has it; else a TUN pair joined by tbench/runner/tun_relay.py for delay and jitter, `tbf` for
the rate, iptables' `statistic` match for loss). The runner itself reaches the server over an
unshaped management veth (`tb<pid>m<n>` here, `tbmgmt` there) for health checks and faults.

Every qdisc and iptables rule lives inside the two namespaces, so deleting them removes it all.
A reaper process deletes them if the runner dies without doing so (even by SIGKILL): it waits
for EOF on a pipe only the runner holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Self

from pydantic import ValidationError

from contract.network_profile import NetworkProfile
from contract.results import NetworkRecord, RelayCounters, Retransmissions, RttProbe
from tbench.runner import tun_relay

NAMESPACE_PREFIX = "tb-"
PATH_DEVICE = "tbpath"  # the shaped device, inside each namespace
MGMT_DEVICE = "tbmgmt"  # the management veth's end inside the server's namespace
MECHANISMS = ("auto", "netem", "relay")
NETEM = "netem"
RELAY = "relay+tbf+iptables"
COMMAND_TIMEOUT_S = 20.0
RELAY_READY_TIMEOUT_S = 10.0


class NetworkSetupError(RuntimeError):
    """The link could not be built; the message says why and what to do."""


def _run(argv: list[str], namespace: str | None = None, check: bool = True) -> str:
    """Run a command (inside `namespace` if given); its stdout, or NetworkSetupError."""
    full = ["ip", "netns", "exec", namespace, *argv] if namespace else argv
    done = subprocess.run(
        full, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if check and done.returncode != 0:
        raise NetworkSetupError(f"`{' '.join(full)}` failed: {done.stderr.strip()}")
    return done.stdout


def prerequisite_problem(mechanism: str = "auto") -> str | None:
    """Why this process cannot build links (not root, no iproute2, ...), with the fix; or None."""
    if mechanism not in MECHANISMS:
        return f"--network-mechanism {mechanism!r}: use one of {', '.join(MECHANISMS)}"
    if os.geteuid() != 0:
        return (
            "--network needs root (network namespaces, veth pairs, qdiscs and iptables rules "
            "need CAP_NET_ADMIN and CAP_SYS_ADMIN): run it with sudo, or in a container "
            "started with --privileged"
        )
    for tool, package in (("ip", "iproute2"), ("tc", "iproute2"), ("iptables", "iptables")):
        if shutil.which(tool) is None:
            return f"--network needs `{tool}`: install the Debian package {package} (make install)"
    probe = f"{NAMESPACE_PREFIX}{os.getpid()}-probe"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return (
            f"this system does not let us create a network namespace (`ip netns add`: "
            f"{done.stderr.strip()}); in Docker run with --privileged"
        )
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if mechanism != NETEM and not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing: the relay needs TUN devices (modprobe tun)"
    return None


def namespace_exists(name: str) -> bool:
    """Whether `ip netns` lists `name`."""
    return os.path.exists(f"/var/run/netns/{name}")


def remove_link(device: str) -> None:
    """Delete a veth pair by its end here, if it is still there (both ends go)."""
    if os.path.exists(f"/sys/class/net/{device}"):
        _run(["ip", "link", "del", device], check=False)


def remove_namespaces(names: Iterable[str]) -> None:
    """SIGKILL every process left in each namespace, then delete it (missing ones skipped).

    A namespace outlives its name while sockets in it still wind down, and with it the veth
    pairs it holds: so the caller deletes its veth pairs explicitly (remove_link).
    """
    for name in names:
        if not namespace_exists(name):
            continue
        pids = _run(["ip", "netns", "pids", name], check=False).split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _run(["ip", "netns", "del", name], check=False)


def leftovers(pid: int) -> dict[str, list[str]]:
    """What a run with this pid left behind: its namespaces and host-side interfaces."""
    prefix = f"{NAMESPACE_PREFIX}{pid}-"
    namespaces = (
        [name for name in os.listdir("/var/run/netns") if name.startswith(prefix)]
        if (os.path.isdir("/var/run/netns"))
        else []
    )
    links = [name for name in os.listdir("/sys/class/net") if name.startswith(f"tb{pid}m")]
    return {"namespaces": namespaces, "links": links}


def netem_available() -> bool:
    """Whether the kernel has sch_netem (tried on a throwaway namespace's loopback)."""
    probe = f"{NAMESPACE_PREFIX}{os.getpid()}-netem"
    try:
        _run(["ip", "netns", "add", probe])
        added = _run(["tc", "qdisc", "add", "dev", "lo", "root", "netem"], probe, check=False)
        return "unknown" not in added and _qdisc_kind(probe, "lo") == "netem"
    finally:
        remove_namespaces([probe])


def _qdisc_kind(namespace: str, device: str) -> str:
    words = _run(["tc", "qdisc", "show", "dev", device], namespace, check=False).split()
    return words[1] if len(words) > 1 else ""


@dataclass(frozen=True)
class Addresses:
    """The link's IPv4 addresses, from the shared address space (RFC 6598)."""

    root_mgmt: str
    server_mgmt: str
    server: str  # the server binds here: reached shaped from the client, unshaped from here
    client: str

    @classmethod
    def for_run(cls, pid: int) -> Addresses:
        """Four addresses in 100.64.0.0/10 derived from the runner's pid (a run builds one link
        at a time, so its links can share them; another run's pid gives others)."""
        key = pid % (64 * 256)
        base = f"100.{64 + key // 256}.{key % 256}"
        return cls(f"{base}.1", f"{base}.2", f"{base}.5", f"{base}.6")


@dataclass
class EmulatedLink:
    """Two namespaces joined by a path shaped as `profile`; `with` removes everything."""

    profile: NetworkProfile
    index: int = 0
    mechanism_choice: str = "auto"
    pid: int = field(default_factory=os.getpid)
    mechanism: str = ""
    relay: subprocess.Popen[str] | None = None
    relay_counters: RelayCounters | None = None  # once the relay has stopped
    reaper: subprocess.Popen[bytes] | None = None

    @property
    def server_ns(self) -> str:
        """The server's namespace."""
        return f"{NAMESPACE_PREFIX}{self.pid}-{self.index}-s"

    @property
    def client_ns(self) -> str:
        """The load generator's namespace."""
        return f"{NAMESPACE_PREFIX}{self.pid}-{self.index}-c"

    @property
    def host_mgmt_device(self) -> str:
        """The management veth's end in the runner's namespace."""
        return f"tb{self.pid}m{self.index}"

    @property
    def addresses(self) -> Addresses:
        """This link's addresses."""
        return Addresses.for_run(self.pid)

    def launcher(self, namespace: str) -> tuple[str, ...]:
        """The argv prefix that runs a command inside `namespace`."""
        return ("ip", "netns", "exec", namespace)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Build namespaces, management veth and the shaped path (NetworkSetupError if not)."""
        problem = prerequisite_problem(self.mechanism_choice)
        if problem:
            raise NetworkSetupError(problem)
        use_netem = self.mechanism_choice == "netem" or (
            self.mechanism_choice == "auto" and netem_available()
        )
        self.mechanism = NETEM if use_netem else RELAY
        self.reaper = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tbench.runner.netns",
                self.host_mgmt_device,
                self.server_ns,
                self.client_ns,
            ],
            stdin=subprocess.PIPE,
            start_new_session=True,  # a terminal's Ctrl-C must not end it before we clean up
        )
        for namespace in (self.server_ns, self.client_ns):
            _run(["ip", "netns", "add", namespace])
            _run(["ip", "link", "set", "lo", "up"], namespace)
        self._management()
        if use_netem:
            self._netem_path()
        else:
            self._relay_path()

    def _management(self) -> None:
        addr, host_dev = self.addresses, self.host_mgmt_device
        _run(
            [
                "ip",
                "link",
                "add",
                host_dev,
                "type",
                "veth",
                "peer",
                "name",
                MGMT_DEVICE,
                "netns",
                self.server_ns,
            ]
        )
        _run(["ip", "addr", "add", f"{addr.root_mgmt}/30", "dev", host_dev])
        _run(["ip", "link", "set", host_dev, "up"])
        _run(["ip", "addr", "add", f"{addr.server_mgmt}/30", "dev", MGMT_DEVICE], self.server_ns)
        _run(["ip", "link", "set", MGMT_DEVICE, "up"], self.server_ns)
        # the server's shaped address, reached from here over the management veth (unshaped)
        _run(["ip", "route", "add", f"{addr.server}/32", "via", addr.server_mgmt, "dev", host_dev])

    def _address_path(self) -> None:
        addr = self.addresses
        for namespace, local, peer in (
            (self.server_ns, addr.server, addr.client),
            (self.client_ns, addr.client, addr.server),
        ):
            _run(["ip", "addr", "add", local, "peer", f"{peer}/32", "dev", PATH_DEVICE], namespace)
            _run(["ip", "link", "set", PATH_DEVICE, "up"], namespace)

    def _directions(self) -> tuple[tuple[str, int | None], ...]:
        """(namespace, rate of what leaves it on the path): server -> client, client -> server."""
        return (
            (self.server_ns, self.profile.rate_bit_s),
            (self.client_ns, self.profile.uplink_bit_s),
        )

    def _netem_path(self) -> None:
        peer = ["peer", "name", PATH_DEVICE, "netns", self.client_ns]
        _run(["ip", "link", "add", PATH_DEVICE, "type", "veth", *peer], self.server_ns)
        self._address_path()
        profile = self.profile
        for namespace, rate in self._directions():
            shape = ["netem", "delay", f"{profile.one_way_ms}ms", f"{profile.jitter_ms}ms"]
            if profile.loss:
                shape += ["loss", f"{profile.loss * 100:g}%"]
            if rate:
                shape += ["rate", f"{rate}bit"]
            _add_qdisc(namespace, shape)

    def _relay_path(self) -> None:
        profile = self.profile
        options = {
            "--server-ns": self.server_ns,
            "--client-ns": self.client_ns,
            "--server-dev": PATH_DEVICE,
            "--client-dev": PATH_DEVICE,
            "--one-way-ms": str(profile.one_way_ms),
            "--jitter-ms": str(profile.jitter_ms),
        }
        argv = [sys.executable, "-m", "tbench.runner.tun_relay"]
        for option, value in options.items():
            argv += [option, value]
        self.relay = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,  # EOF when we die: the relay then ends, its devices too
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.relay.stdout is not None
        line = _read_line(self.relay.stdout, RELAY_READY_TIMEOUT_S)
        if line.strip() != tun_relay.READY_LINE:
            raise NetworkSetupError(f"the delay relay did not start (exit {self.relay.poll()})")
        self._address_path()
        for namespace, rate in self._directions():
            if rate:
                burst = max(rate // 8 // 100, 3_000)  # 10 ms of data, at least two packets
                shape = ["tbf", "rate", f"{rate}bit", "burst", str(burst), "latency", "200ms"]
                _add_qdisc(namespace, shape)
            if profile.loss:  # dropped on arrival, each direction: the sender retransmits
                drop = ["-m", "statistic", "--mode", "random"]
                drop += ["--probability", f"{profile.loss:.6f}", "-j", "DROP"]
                _run(["iptables", "-w", "-A", "INPUT", "-i", PATH_DEVICE, *drop], namespace)

    def stop(self) -> None:
        """Stop the relay (keeping its counters), delete both namespaces, release the reaper."""
        if self.relay is not None and self.relay.poll() is None:
            self.relay.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                out, _ = self.relay.communicate(timeout=5.0)
                with contextlib.suppress(ValidationError):
                    lines = [line for line in out.splitlines() if line.startswith("{")]
                    if lines:
                        self.relay_counters = RelayCounters.model_validate_json(lines[-1])
            if self.relay.poll() is None:
                self.relay.kill()
                self.relay.wait()
        remove_link(self.host_mgmt_device)
        remove_namespaces([self.server_ns, self.client_ns])
        if self.reaper is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                assert self.reaper.stdin is not None
                self.reaper.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.reaper.wait(10.0)

    def measure_rtt(self, port: int, count: int = 20) -> RttProbe:
        """TCP connect times from the client's namespace to the server's port (ms)."""
        out = _run(
            [
                sys.executable,
                "-m",
                "tbench.runner.netns",
                "--probe",
                self.addresses.server,
                str(port),
                str(count),
            ],
            self.client_ns,
        )
        samples: list[float] = json.loads(out)
        return RttProbe(
            rtt_p50_ms=statistics.median(samples),
            rtt_min_ms=min(samples),
            rtt_max_ms=max(samples),
            rtt_samples=len(samples),
        )

    def tcp_retransmissions(self) -> Retransmissions:
        """Segments TCP retransmitted in each namespace (/proc/net/snmp, RetransSegs)."""
        return Retransmissions(
            server_retrans_segs=_retrans_segs(self.server_ns),
            client_retrans_segs=_retrans_segs(self.client_ns),
        )

    def describe(self) -> NetworkRecord:
        """What run.json records: profile, mechanism, namespaces."""
        return NetworkRecord(
            profile=self.profile,
            mechanism=self.mechanism,
            server_namespace=self.server_ns,
            client_namespace=self.client_ns,
            server_address=self.addresses.server,
        )


def _add_qdisc(namespace: str, shape: list[str]) -> None:
    """Put qdisc `shape` (kind and parameters) at the root of the path device in `namespace`."""
    _run(["tc", "qdisc", "add", "dev", PATH_DEVICE, "root", *shape], namespace)


def _retrans_segs(namespace: str) -> int:
    lines = [line.split() for line in _run(["cat", "/proc/net/snmp"], namespace).splitlines()]
    tcp = [words for words in lines if words and words[0] == "Tcp:"]
    header, values = tcp[0], tcp[1]
    return int(values[header.index("RetransSegs")])


def _read_line(stream: IO[str], timeout_s: float) -> str:
    """One line from a child's stdout, or '' after `timeout_s`."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if selector.select(timeout_s):
            return stream.readline()
    return ""


def probe_connect_ms(host: str, port: int, count: int, pause_s: float = 0.05) -> list[float]:
    """`count` TCP connect times to host:port in ms (one SYN, SYN-ACK round trip each)."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        with socket.create_connection((host, port), timeout=10.0):
            samples.append((time.perf_counter() - started) * 1000)
        time.sleep(pause_s)
    return samples


def main(argv: list[str]) -> None:
    """`--probe HOST PORT COUNT` (connect times as JSON), else reap: `DEVICE NAMESPACE...`,
    wait for EOF on stdin, then remove the veth pair and the namespaces."""
    if argv[:1] == ["--probe"]:
        # the probe's result on stdout, which its caller parses
        print(json.dumps(probe_connect_ms(argv[1], int(argv[2]), int(argv[3]))))
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    remove_link(argv[0])
    remove_namespaces(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
