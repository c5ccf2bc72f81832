"""WebSocket server costs, split: CPU per handshake (+ close) and CPU per delivery (issue 16).

`server_efficiency.py` gives one figure per server for a whole sweep, where connection setup
and fan-out are mixed. This splits them, for the websocket target and its reference server
(benchmarks/reference_servers/websocket.py), each started alone, alternating when repeated:
- handshakes: `--handshakes` connections opened and closed, `--concurrency` at a time;
- deliveries: `--members` connections in one room, `--messages` frames published by one of
  them (paced, 2 ms apart), until every member has every message.
Server CPU (user + system, /proc) is read around each phase.

    .venv/bin/python -m benchmarks.websocket_costs [--handshakes 3000] [--members 500]
        [--messages 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.server_efficiency import HOST, ServerCommand, cpu_s, reference_argv, running
from contract import codec
from contract.addresses import free_port
from contract.messages import SEND_ACTION, Publish, padded_body
from contract.registry import TARGETS

PAYLOAD_BYTES = 256
PUBLISH_GAP_S = 0.002
WARMUP_HANDSHAKES = 50


async def handshake_cpu_ms(url: str, server: psutil.Process, count: int, concurrency: int) -> float:
    """Server CPU-ms per connection opened and closed."""
    limit = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with limit, connect(url, compression=None):
            pass

    for _ in range(WARMUP_HANDSHAKES):
        await one()
    before = cpu_s(server)
    await asyncio.gather(*(one() for _ in range(count)))
    return (cpu_s(server) - before) * 1000.0 / count


async def delivery_cpu_ms(url: str, server: psutil.Process, members: int, messages: int) -> float:
    """Server CPU-ms per message delivered to one member."""
    room = "costs"
    connections: list[ClientConnection] = [
        await connect(f"{url}?room={room}", compression=None) for _ in range(members)
    ]
    expected = members * messages
    received = 0
    everything = asyncio.Event()

    async def read(connection: ClientConnection) -> None:
        nonlocal received
        async for _ in connection:
            received += 1
            if received == expected:
                everything.set()

    readers = [asyncio.create_task(read(connection)) for connection in connections]
    await asyncio.sleep(0.5)  # every subscription live
    before = cpu_s(server)
    body = padded_body(PAYLOAD_BYTES)
    for seq in range(1, messages + 1):
        frame = Publish(room, "publisher", seq, body, time.time()).to_json(action=SEND_ACTION)
        await connections[0].send(codec.dumps_str(frame))
        await asyncio.sleep(PUBLISH_GAP_S)
    await asyncio.wait_for(everything.wait(), timeout=60.0)
    used = cpu_s(server) - before
    for connection in connections:
        await connection.close()
    for reader in readers:
        reader.cancel()
    return used * 1000.0 / expected


def measure(argv: list[str], port: int, log: Path, args: argparse.Namespace) -> tuple[float, float]:
    """(handshake CPU-ms, delivery CPU-ms) of one server started alone."""
    url = TARGETS["websocket"].url(HOST, port)
    with running(ServerCommand(argv, port), log) as server:
        handshake = asyncio.run(handshake_cpu_ms(url, server, args.handshakes, args.concurrency))
        delivery = asyncio.run(delivery_cpu_ms(url, server, args.members, args.messages))
    return handshake, delivery


def main() -> int:
    """Measure both servers, print each pass and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {"target": [], "reference": []}
    print(f"{'server':10} {'handshake CPU-ms':>17} {'delivery CPU-ms':>16}")
    with tempfile.TemporaryDirectory(prefix="tbench-ws-costs-") as tmp:
        for attempt in range(args.repeat):
            for kind in ("target", "reference"):
                port = free_port(HOST)
                argv = (
                    TARGETS["websocket"].argv(HOST, port)
                    if kind == "target"
                    else reference_argv("websocket", port)
                )
                log = Path(tmp) / f"{kind}-{attempt}.log"
                handshake, delivery = measure(argv, port, log, args)
                figures[kind].append((handshake, delivery))
                print(f"{kind:10} {handshake:17.3f} {delivery:16.4f}", flush=True)
    medians = {
        kind: (statistics.median(h for h, _ in runs), statistics.median(d for _, d in runs))
        for kind, runs in figures.items()
    }
    (target_h, target_d), (reference_h, reference_d) = medians["target"], medians["reference"]
    print("\nmedians, target vs reference (ratio: reference ÷ target)")
    print(f"handshake {target_h:.3f} vs {reference_h:.3f} ms ({reference_h / target_h:.2f})")
    print(f"delivery {target_d:.4f} vs {reference_d:.4f} ms ({reference_d / target_d:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
