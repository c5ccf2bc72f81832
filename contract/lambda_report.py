"""Lambda `REPORT` log lines (docs/metrics.md): CloudWatch's format, as AWS and the emulator write.

`REPORT RequestId: <id>\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t
Max Memory Used: 80 MB\tInit Duration: 250.12 ms\t` — Init Duration on a cold start only.
The local emulator adds an `EMULATOR` line per invocation with what only it can know (time
spent waiting for a worker process, its own overhead), so local artefacts stay visible.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# A target's REPORT (and EMULATOR) lines, in its results directory: `<run>/<target>/<this>`.
REPORT_LOG_FILE = "lambda-reports.log"
UNNAMED_FUNCTION = "(unnamed)"  # the function of a REPORT line without an emulator note

_REPORT = re.compile(
    r"REPORT RequestId: (?P<request_id>\S+)\s+"
    r"Duration: (?P<duration>[\d.]+) ms\s+"
    r"Billed Duration: (?P<billed>\d+) ms\s+"
    r"Memory Size: (?P<memory>\d+) MB\s+"
    r"Max Memory Used: (?P<max_memory>\d+) MB"
    r"(?:\s+Init Duration: (?P<init>[\d.]+) ms)?"
    r"(?:\s+Status: (?P<status>\S+))?"
)
_EMULATOR = re.compile(
    r"EMULATOR RequestId: (?P<request_id>\S+)\s+"
    r"Function: (?P<function>\S+)\s+"
    r"Environment: (?P<environment>\S+)\s+"
    r"Queue Wait: (?P<queue_wait>[\d.]+) ms\s+"
    r"Invoke Overhead: (?P<overhead>[\d.]+) ms"
)


def billed_duration_ms(duration_ms: float) -> int:
    """Lambda bills duration rounded up to the next millisecond (at least 1 ms)."""
    return max(1, math.ceil(duration_ms))


@dataclass(frozen=True, slots=True)
class LambdaReport:
    """One invocation's `REPORT` line."""

    request_id: str
    duration_ms: float
    billed_duration_ms: int
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None  # cold starts only
    status: str | None = None  # "timeout" / "error" when the invocation did not complete

    def line(self) -> str:
        """The line as CloudWatch shows it (tab-separated, trailing tab)."""
        fields = [
            f"REPORT RequestId: {self.request_id}",
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {self.billed_duration_ms} ms",
            f"Memory Size: {self.memory_size_mb} MB",
            f"Max Memory Used: {self.max_memory_used_mb} MB",
        ]
        if self.init_duration_ms is not None:
            fields.append(f"Init Duration: {self.init_duration_ms:.2f} ms")
        if self.status is not None:
            fields.append(f"Status: {self.status}")
        return "\t".join(fields) + "\t"

    @classmethod
    def parse(cls, line: str) -> LambdaReport | None:
        """Read a `REPORT` line; None if `line` is not one."""
        match = _REPORT.search(line)
        if match is None:
            return None
        init = match["init"]
        return cls(
            request_id=match["request_id"],
            duration_ms=float(match["duration"]),
            billed_duration_ms=int(match["billed"]),
            memory_size_mb=int(match["memory"]),
            max_memory_used_mb=int(match["max_memory"]),
            init_duration_ms=float(init) if init is not None else None,
            status=match["status"],
        )


@dataclass(frozen=True, slots=True)
class EmulatorRecord:
    """The emulator's note beside a REPORT line: local artefacts, reported, never hidden."""

    request_id: str
    function: str
    environment: str
    queue_wait_ms: float  # waiting for a worker process: AWS would have run it at once
    invoke_overhead_ms: float  # emulator round trip minus the handler's own duration

    def line(self) -> str:
        """The `EMULATOR` line (same layout as REPORT lines)."""
        return (
            f"EMULATOR RequestId: {self.request_id}\tFunction: {self.function}\t"
            f"Environment: {self.environment}\tQueue Wait: {self.queue_wait_ms:.2f} ms\t"
            f"Invoke Overhead: {self.invoke_overhead_ms:.2f} ms\t"
        )

    @classmethod
    def parse(cls, line: str) -> EmulatorRecord | None:
        """Read an `EMULATOR` line; None if `line` is not one."""
        match = _EMULATOR.search(line)
        if match is None:
            return None
        return cls(
            request_id=match["request_id"],
            function=match["function"],
            environment=match["environment"],
            queue_wait_ms=float(match["queue_wait"]),
            invoke_overhead_ms=float(match["overhead"]),
        )


def read_reports(lines: Iterable[str]) -> Iterator[LambdaReport]:
    """Every REPORT line in a log (other lines skipped)."""
    for line in lines:
        report = LambdaReport.parse(line)
        if report is not None:
            yield report


def read_invocations(lines: Iterable[str]) -> list[tuple[LambdaReport, EmulatorRecord | None]]:
    """Every REPORT line with the emulator's note on the same request (None on real AWS logs)."""
    reports: list[LambdaReport] = []
    notes: dict[str, EmulatorRecord] = {}
    for line in lines:
        report = LambdaReport.parse(line)
        if report is not None:
            reports.append(report)
        elif (note := EmulatorRecord.parse(line)) is not None:
            notes[note.request_id] = note
    return [(report, notes.get(report.request_id)) for report in reports]
