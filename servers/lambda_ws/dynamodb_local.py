"""DynamoDB for the emulator: moto's server (the real AWS wire protocol) as a child process.

It runs on loopback in the emulator's process group, so stopping the target stops it too.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time

from tbench.process import free_port

LOOPBACK = "127.0.0.1"


class DynamoDBStartError(RuntimeError):
    """moto's server did not come up."""


class LocalDynamoDB:
    """`python -m moto.server` on a free loopback port."""

    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """What `AWS_ENDPOINT_URL_DYNAMODB` is set to."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0, attempts: int = 3) -> LocalDynamoDB:
        """Start the server and wait until it accepts connections (retrying a taken port)."""
        for _ in range(attempts):
            self.port = free_port(self.host)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # one access-log line per request: noise
                stderr=subprocess.DEVNULL,
            )
            if self._wait_listening(timeout_s):
                return self
            self.stop()
        raise DynamoDBStartError(f"moto server not listening on {self.host} after {attempts} tries")

    def _wait_listening(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False  # exited: most likely the port was taken meanwhile
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.5),
            ):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Terminate the server."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(3.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
