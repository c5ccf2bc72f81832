"""The userspace delay line where the kernel has no netem: a packet relay between two TUN devices.

`python -m tbench.runner.tun_relay --server-ns S --client-ns C --one-way-ms D --jitter-ms J`
opens a TUN device in each network namespace and copies every IP packet from one to the other
after D ± J ms (uniform), keeping each direction's order (a later packet never overtakes an
earlier one: jitter without reordering, like one TCP path). TCP runs end to end through it, so
retransmission and congestion control see the real RTT. The devices exist only while this
process holds them: when it ends (however), they are gone. It ends on SIGTERM or when its
stdin reaches EOF (the runner that started it died), and prints its counters as one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import queue
import random
import resource
import select
import signal
import struct
import sys
import threading
import time

from contract.results import RelayCounters

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MAX_PACKET = 65_535
READY_LINE = "ready"
STOP_POLL_S = 0.2  # how often the threads look whether they should stop


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
    """One direction: packets read from `source` are written to `sink` after their delay.

    A reader thread stamps each packet with its due time (never before the previous packet's:
    order is kept) and a writer thread sleeps until it is due: time.sleep is precise to about
    0.1 ms, where an event loop's epoll timeout would round every wait up to a whole ms.
    """

    def __init__(self, source: int, sink: int, delay_s: float, jitter_s: float) -> None:
        self.source, self.sink = source, sink
        self.delay_s, self.jitter_s = delay_s, jitter_s
        self.queue: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
        self.packets = 0
        self.bytes = 0
        self.write_errors = 0
        self.threads = (
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._write, daemon=True),
        )

    def start(self, stop: threading.Event) -> None:
        """Start reading and writing until `stop` is set."""
        self.stop = stop
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        """Wait for both threads (after `stop`); packets still in flight are dropped."""
        self.threads[0].join()
        self.queue.put(None)
        self.threads[1].join()

    def _read(self) -> None:
        last_due = 0.0
        while not self.stop.is_set():
            readable, _, _ = select.select([self.source], [], [], STOP_POLL_S)
            if not readable:
                continue
            now = time.monotonic()
            while True:
                try:
                    packet = os.read(self.source, MAX_PACKET)
                except BlockingIOError:
                    break
                delay = self.delay_s
                if self.jitter_s:
                    delay += random.uniform(-self.jitter_s, self.jitter_s)
                last_due = max(now + max(delay, 0.0), last_due)
                self.queue.put((last_due, packet))

    def _write(self) -> None:
        while (item := self.queue.get()) is not None:
            due, packet = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                os.write(self.sink, packet)
                self.packets += 1
                self.bytes += len(packet)
            except OSError:  # the device went down, or its queue is full: a lost packet
                self.write_errors += 1


def relay(args: argparse.Namespace) -> RelayCounters:
    """Run both directions until SIGTERM or stdin EOF; return the counters."""
    setns(args.server_ns)
    server_fd = open_tun(args.server_dev)
    setns(args.client_ns)
    client_fd = open_tun(args.client_dev)
    delay_s, jitter_s = args.one_way_ms / 1000, args.jitter_ms / 1000
    down = DelayLine(server_fd, client_fd, delay_s, jitter_s)
    up = DelayLine(client_fd, server_fd, delay_s, jitter_s)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    started, cpu_at_start = time.monotonic(), _cpu_s()  # count forwarding, not start-up
    down.start(stop)
    up.start(stop)
    print(READY_LINE, flush=True)  # stdout is the protocol: netns.TunRelay waits for this line
    while not stop.is_set():  # stdin at EOF: the runner that started us is gone
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select([sys.stdin], [], [], STOP_POLL_S)
            if readable and not os.read(sys.stdin.fileno(), 4096):
                stop.set()
    down.join()
    up.join()
    return RelayCounters(
        packets_down=down.packets,
        packets_up=up.packets,
        bytes_down=down.bytes,
        bytes_up=up.bytes,
        write_errors=down.write_errors + up.write_errors,
        cpu_s=_cpu_s() - cpu_at_start,
        wall_s=time.monotonic() - started,
    )


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
    counters = relay(args)
    with contextlib.suppress(BrokenPipeError):
        # the protocol's last line: the runner reads it
        print(counters.model_dump_json(), flush=True)


if __name__ == "__main__":
    main()
