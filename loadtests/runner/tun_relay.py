"""The userspace delay line where the kernel has no netem: a packet relay between two TUN devices.

`python -m loadtests.runner.tun_relay --server-ns S --client-ns C --one-way-ms D --jitter-ms J`
opens a TUN device in each network namespace and copies every IP packet from one to the other
after D ± J ms (uniform), keeping each direction's order (a later packet never overtakes an
earlier one: jitter without reordering, like one TCP path). TCP runs end to end through it, so
retransmission and congestion control see the real RTT. The devices exist only while this
process holds them: when it ends (however), they are gone. It ends on SIGTERM or when its
stdin reaches EOF (the runner that started it died), and prints its counters as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ctypes
import fcntl
import json
import os
import random
import resource
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MAX_PACKET = 65_535
READY_LINE = "ready"


def setns(namespace: str) -> None:
    """Move this thread into the named network namespace (`ip netns add` made it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({namespace}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def open_tun(name: str) -> int:
    """A new TUN device `name` in the current namespace (raw IP packets, no extra header)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class DelayLine:
    """One direction: packets read from `source` are written to `sink` after their delay."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        source: int,
        sink: int,
        delay_s: float,
        jitter_s: float,
    ) -> None:
        self.loop, self.source, self.sink = loop, source, sink
        self.delay_s, self.jitter_s = delay_s, jitter_s
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.last_due = 0.0
        self.packets = 0
        self.bytes = 0
        self.write_errors = 0
        self.timer: asyncio.TimerHandle | None = None

    def on_readable(self) -> None:
        """Take every waiting packet and schedule it (due time never before the previous one)."""
        now = self.loop.time()
        while True:
            try:
                packet = os.read(self.source, MAX_PACKET)
            except BlockingIOError:
                break
            delay = self.delay_s
            if self.jitter_s:
                delay += random.uniform(-self.jitter_s, self.jitter_s)
            due = max(now + max(delay, 0.0), self.last_due)
            self.last_due = due
            self.queue.append((due, packet))
        self._arm()

    def _arm(self) -> None:
        if self.timer is None and self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def _flush(self) -> None:
        self.timer = None
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            _, packet = self.queue.popleft()
            try:
                os.write(self.sink, packet)
                self.packets += 1
                self.bytes += len(packet)
            except OSError:  # the device went down, or its queue is full: a lost packet
                self.write_errors += 1
        self._arm()


async def relay(args: argparse.Namespace) -> dict[str, object]:
    """Run both directions until SIGTERM or stdin EOF; return the counters."""
    setns(args.server_ns)
    server_fd = open_tun(args.server_dev)
    setns(args.client_ns)
    client_fd = open_tun(args.client_dev)
    loop = asyncio.get_running_loop()
    delay_s, jitter_s = args.one_way_ms / 1000, args.jitter_ms / 1000
    down = DelayLine(loop, server_fd, client_fd, delay_s, jitter_s)
    up = DelayLine(loop, client_fd, server_fd, delay_s, jitter_s)
    loop.add_reader(server_fd, down.on_readable)
    loop.add_reader(client_fd, up.on_readable)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not os.read(0, 4096) else None)
    started, cpu_at_start = time.monotonic(), _cpu_s()  # count forwarding, not start-up
    print(READY_LINE, flush=True)
    await stop.wait()
    return {
        "packets_down": down.packets,
        "packets_up": up.packets,
        "bytes_down": down.bytes,
        "bytes_up": up.bytes,
        "write_errors": down.write_errors + up.write_errors,
        "cpu_s": _cpu_s() - cpu_at_start,
        "wall_s": time.monotonic() - started,
    }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Command-line entry point (the runner starts it; see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-ns", required=True)
    parser.add_argument("--client-ns", required=True)
    parser.add_argument("--server-dev", required=True)
    parser.add_argument("--client-dev", required=True)
    parser.add_argument("--one-way-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    args = parser.parse_args()
    counters = asyncio.run(relay(args))
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(counters), flush=True)


if __name__ == "__main__":
    main()
