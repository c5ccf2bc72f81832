"""The delay relay's own cost (`tbench run --network`, mechanism relay+tbf+iptables).

Builds a link with rtt=0 and runs a TCP echo ping-pong (small messages, TCP_NODELAY) from the
load generator's namespace through the relay, and the same from here over the unshaped
management veth: the difference of the medians is the latency the relay adds, and its CPU time
over the packets it forwarded is its cost per packet. Needs root.

    .venv/bin/python -m benchmarks.network_relay [--count 2000] [--size 64]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time

from contract.network_profile import parse_network_option
from tbench.runner.netns import EmulatedLink, NetworkSetupError, probe_connect_ms

PORT = 9000


def echo_server(host: str, port: int) -> None:
    """Echo every byte back, one connection at a time, forever."""
    with socket.create_server((host, port)) as server:
        while True:
            connection, _ = server.accept()
            with connection:
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                while data := connection.recv(65536):
                    connection.sendall(data)


def echo_client(host: str, port: int, count: int, size: int) -> list[float]:
    """Round-trip times (µs) of `count` messages of `size` bytes, one after another."""
    payload = b"x" * size
    samples = []
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            started = time.perf_counter()
            connection.sendall(payload)
            received = 0
            while received < size:
                received += len(connection.recv(65536))
            samples.append((time.perf_counter() - started) * 1e6)
    return samples


def _client_argv(host: str, count: int, size: int) -> list[str]:
    return [sys.executable, __file__, "--client", host, str(count), str(size)]


def measure(count: int, size: int) -> dict[str, float]:
    """Both paths' round trips, the relay's added latency and CPU per packet."""
    (profile,) = parse_network_option("rtt=0ms")
    with EmulatedLink(profile, mechanism_choice="relay") as link:
        server_argv = [sys.executable, __file__, "--server", link.addresses.server]
        server = subprocess.Popen([*link.launcher(link.server_ns), *server_argv])
        try:
            time.sleep(1.0)
            relayed = json.loads(
                subprocess.run(
                    [
                        *link.launcher(link.client_ns),
                        *_client_argv(link.addresses.server, count, size),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            direct = echo_client(link.addresses.server, PORT, count, size)
            connect_relayed = link.measure_rtt(PORT, 50).rtt_p50_ms
            connect_direct = statistics.median(probe_connect_ms(link.addresses.server, PORT, 50))
        finally:
            server.kill()
            server.wait()
        link.stop()
        counters = link.relay_counters
    if counters is None:
        raise RuntimeError("the relay printed no counters")
    packets = counters.packets_down + counters.packets_up
    return {
        "echo_p50_us_relayed": statistics.median(relayed),
        "echo_p50_us_direct": statistics.median(direct),
        "added_latency_p50_us": statistics.median(relayed) - statistics.median(direct),
        "connect_p50_ms_relayed": connect_relayed,
        "connect_p50_ms_direct": connect_direct,
        "relay_packets": packets,
        "relay_cpu_s": counters.cpu_s,
        "relay_cpu_us_per_packet": counters.cpu_s * 1e6 / packets,
    }


def main() -> None:
    """Print the relay's cost as JSON (or serve/drive the echo inside a namespace)."""
    if sys.argv[1:2] == ["--server"]:
        echo_server(sys.argv[2], PORT)
        return
    if sys.argv[1:2] == ["--client"]:
        print(json.dumps(echo_client(sys.argv[2], PORT, int(sys.argv[3]), int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    try:
        print(json.dumps(measure(args.count, args.size), indent=1))
    except NetworkSetupError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
