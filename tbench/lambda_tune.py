"""Local power tuning of the Lambda target: the real `sendMessage` at several memory sizes.

As aws-lambda-power-tuning does on AWS, each memory size gets its own deployment (here an
emulator started with `--memory-mb`, so every environment has that size's CPU share), the
function is invoked N times one after another (no contention), and the durations come from
the REPORT lines. The invocation is a real one: a frame from one of 10 WebSocket clients
registered in one room, fanned out by the handler to all 10 through `@connections`. The
first invocation of each size (the cold start, which also builds the handler's management
API client) is not counted: it happens once per environment, and Duration excludes init.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field, ValidationError
from websockets.sync.client import ClientConnection, connect

from contract.lambda_report import LambdaReport, read_invocations
from contract.registry import get_target
from contract.results import CpuModel, LambdaTuneRow
from servers.lambda_ws.cpu_model import MemorySizeError, check_memory_mb, sweep_stale
from servers.lambda_ws.template import route_functions
from tbench.process import Spawn, TargetProcess

SEND_FUNCTION = "SendMessageFunction"  # template.yaml's function behind `sendMessage`
ROOM_SIZE = 10  # registered connections the message fans out to, the sender included
SENDER = "tune"
PAYLOAD_BYTES = 256  # the chat scenario's body size
WARMUP_INVOCATIONS = 1  # the cold start: not counted
DEFAULT_MEMORY_SIZES = (128, 256, 512, 1024, 1769)
DEFAULT_INVOCATIONS = 20
RECEIVE_TIMEOUT_S = 30.0
START_TIMEOUT_S = 60.0

Progress = Callable[[int, str], None]  # (memory size, what is happening), after each step


def parse_memory_sizes(text: str) -> list[int]:
    """`128,256,1769` → [128, 256, 1769]; anything Lambda does not allow is a ValueError."""
    sizes: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            size = int(part)
        except ValueError:
            raise ValueError(f"--memory: {part!r} is not a whole number of MB") from None
        try:
            check_memory_mb(size)
        except MemorySizeError as exc:
            raise ValueError(f"--memory: {exc}") from None
        if size not in sizes:
            sizes.append(size)
    if not sizes:
        raise ValueError("--memory names no size; e.g. --memory 128,256,512,1024,1769")
    return sizes


def configured_memory_mb() -> int:
    """The memory template.yaml gives the `sendMessage` function."""
    return next(r.memory_mb for r in route_functions().values() if r.function_id == SEND_FUNCTION)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (no interpolation: a value that was measured)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _send(sender: ClientConnection, room: str, seq: int) -> None:
    frame = {"action": "sendMessage", "room": room, "sender": SENDER, "seq": seq}
    sender.send(json.dumps({**frame, "body": "x" * PAYLOAD_BYTES, "sent_at": time.time()}))


def _await_delivery(client: ClientConnection, seq: int) -> None:
    while True:
        message = json.loads(client.recv(timeout=RECEIVE_TIMEOUT_S))
        if message.get("sender") == SENDER and message.get("seq") == seq:
            return
        if "error" in message:
            raise RuntimeError(f"the emulator refused the frame: {message['error']}")


class _LambdaStats(BaseModel):
    cpu_model: CpuModel | None = None


class _EmulatorStats(BaseModel):
    """The part of the emulator's /_stats read here (the rest is ignored)."""

    # `lambda` is a keyword: read by its alias
    lambda_: _LambdaStats | None = Field(default=None, alias="lambda")


def read_cpu_model(url: str) -> CpuModel | None:
    """The CPU model state of the emulator at `url` (its /_stats); None if it does not say
    (a real API Gateway stage, a server that is gone)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    try:
        response = httpx.get(f"{scheme}://{parts.netloc}/_stats", timeout=5.0)
        stats = _EmulatorStats.model_validate_json(response.content)
    except (httpx.HTTPError, ValidationError):
        return None
    return stats.lambda_.cpu_model if stats.lambda_ is not None else None


def _send_reports(report_log: Path) -> list[LambdaReport]:
    if not report_log.exists():
        return []
    with report_log.open(encoding="utf-8") as lines:
        return [
            r for r, note, _ in read_invocations(lines) if note and note.function == SEND_FUNCTION
        ]


def _await_reports(report_log: Path, count: int) -> list[LambdaReport]:
    deadline = time.monotonic() + RECEIVE_TIMEOUT_S
    while len(reports := _send_reports(report_log)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{report_log}: {len(reports)} of {count} REPORT lines")
        time.sleep(0.002)
    return reports


def measure_memory_size(
    memory_mb: int,
    invocations: int,
    directory: Path,
    cpu_model: bool = True,
    progress: Progress | None = None,
) -> LambdaTuneRow:
    """Start an emulator at `memory_mb`, register a room of 10, invoke `sendMessage` N times."""
    report_log = directory / f"tune-{memory_mb}mb-reports.log"
    spec = get_target("lambda")
    options = ("--memory-mb", str(memory_mb), "--report-log", str(report_log))
    emulator = TargetProcess(
        spec,
        extra_args=(*options, *spec.cpu_model_args(cpu_model)),
        spawn=Spawn(log_path=directory / f"tune-{memory_mb}mb-emulator.log"),
    )
    room = f"tune-{memory_mb}"
    with ExitStack() as stack:
        stack.enter_context(emulator.start(START_TIMEOUT_S))
        clients = [
            stack.enter_context(connect(f"{emulator.url}?room={room}", open_timeout=30))
            for _ in range(ROOM_SIZE)
        ]
        if progress:
            progress(memory_mb, "room registered")
        for seq in range(1, WARMUP_INVOCATIONS + invocations + 1):
            _send(clients[0], room, seq)
            for client in clients:
                _await_delivery(client, seq)
            _await_reports(report_log, seq)  # the invocation ended: the next one runs alone
            if progress:
                progress(memory_mb, "invoked")
        state = read_cpu_model(emulator.url)
    sweep_stale()  # if the emulator outlived its grace and was killed, its groups remain
    reports = [r for r in _send_reports(report_log) if r.status is None]
    warm = reports[WARMUP_INVOCATIONS:]
    if len(warm) < invocations:
        raise RuntimeError(f"{memory_mb} MB: {len(warm)} of {invocations} invocations succeeded")
    durations = [r.duration_ms for r in warm]
    modelled = state is not None and state.modelled
    return LambdaTuneRow(
        memory_mb=memory_mb,
        invocations=len(warm),
        duration_p50_ms=round(percentile(durations, 0.5), 2),
        duration_p95_ms=round(percentile(durations, 0.95), 2),
        billed_duration_p50_ms=int(percentile([r.billed_duration_ms for r in warm], 0.5)),
        cpu_modelled=modelled,
        unmodelled_reason=None if modelled else (state.reason if state else "unknown"),
    )


def tune(
    memory_sizes: Sequence[int],
    invocations: int = DEFAULT_INVOCATIONS,
    cpu_model: bool = True,
    progress: Progress | None = None,
    directory: Path | None = None,
) -> list[LambdaTuneRow]:
    """Measure every memory size in turn (logs in `directory`, a temporary one if None)."""
    if invocations < 1:
        raise ValueError("--invocations must be at least 1")
    for size in memory_sizes:
        check_memory_mb(size)
    with ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tune-")))
        directory.mkdir(parents=True, exist_ok=True)
        return [
            measure_memory_size(size, invocations, directory, cpu_model, progress)
            for size in memory_sizes
        ]
