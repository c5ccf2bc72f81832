"""DynamoDB for the emulator: dynalite (DynamoDB's wire protocol, in memory) as a child process.

dynalite is a Node.js server that `make install` puts in servers/lambda_ws/dynalite/ from its
package-lock.json. It validates requests as DynamoDB does and reads a room's connections from
its index by key, at about a tenth of the CPU per query of moto's server (docs/lambda.md).
It runs on loopback in the emulator's process group, so stopping the target stops it too.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

from contract.addresses import free_port

LOOPBACK = "127.0.0.1"
DYNALITE_DIR = Path(__file__).parent / "dynalite"
DYNALITE_CLI = DYNALITE_DIR / "node_modules" / "dynalite" / "cli.js"
# On loopback only, tables ACTIVE at once: dynalite's own cli.js binds every interface.
DYNALITE_SERVE = DYNALITE_DIR / "serve.js"


class DynamoDBStartError(RuntimeError):
    """The local DynamoDB did not come up (or is not installed)."""


def dynalite_command(host: str, port: int) -> list[str]:
    """The command that serves DynamoDB on host:port; a clear error if it is not installed."""
    node = shutil.which("node")
    if node is None:
        raise DynamoDBStartError("Node.js (`node`) not found: run `make install`")
    if not DYNALITE_CLI.is_file():
        raise DynamoDBStartError(f"dynalite not installed in {DYNALITE_DIR}: run `make install`")
    return [node, str(DYNALITE_SERVE), host, str(port)]


class LocalDynamoDB:
    """dynalite on a free loopback port."""

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
                dynalite_command(self.host, self.port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # one "listening" line
                stderr=subprocess.DEVNULL,
            )
            if self._wait_listening(timeout_s):
                return self
            self.stop()
        raise DynamoDBStartError(f"dynalite not listening on {self.host} after {attempts} tries")

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
