"""Lambda `REPORT` log lines (docs/metrics.md): CloudWatch's format, as AWS and the emulator write.

`REPORT RequestId: <id>\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t
Max Memory Used: 80 MB\tInit Duration: 250.12 ms\t` — Init Duration on a cold start only.
The local emulator adds an `EMULATOR` line per invocation with what only it can know (time
spent waiting for a worker process, its own overhead), so local artefacts stay visible. Lines
collected from CloudWatch Logs (`tbench aws run`) get a `SOURCE` line instead: the function and
log stream the REPORT line came from, as AWS's own line names neither.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

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
_SOURCE = re.compile(
    r"SOURCE RequestId: (?P<request_id>\S+)\s+"
    r"Function: (?P<function>\S+)\s+"
    r"Log Stream: (?P<stream>.+?)\t"
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


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """Where a REPORT line collected from CloudWatch Logs came from (AWS's line names neither)."""

    request_id: str
    function: str  # the template's logical id, as the emulator names functions
    log_stream: str

    def line(self) -> str:
        """The `SOURCE` line (same layout as REPORT lines)."""
        return (
            f"SOURCE RequestId: {self.request_id}\tFunction: {self.function}\t"
            f"Log Stream: {self.log_stream}\t"
        )

    @classmethod
    def parse(cls, line: str) -> SourceRecord | None:
        """Read a `SOURCE` line; None if `line` is not one."""
        match = _SOURCE.search(line)
        if match is None:
            return None
        return cls(match["request_id"], match["function"], match["stream"])


class Invocation(NamedTuple):
    """One REPORT line, the function it belongs to, and the emulator's note if it ran locally."""

    report: LambdaReport
    note: EmulatorRecord | None  # None on lines from AWS
    function: str  # from the EMULATOR or SOURCE line; UNNAMED_FUNCTION when neither says


def read_reports(lines: Iterable[str]) -> Iterator[LambdaReport]:
    """Every REPORT line in a log (other lines skipped)."""
    for line in lines:
        report = LambdaReport.parse(line)
        if report is not None:
            yield report


def read_invocations(lines: Iterable[str]) -> list[Invocation]:
    """Every REPORT line with its function, and the emulator's note on the same request."""
    reports: list[LambdaReport] = []
    notes: dict[str, EmulatorRecord] = {}
    sources: dict[str, str] = {}
    for line in lines:
        report = LambdaReport.parse(line)
        if report is not None:
            reports.append(report)
        elif (note := EmulatorRecord.parse(line)) is not None:
            notes[note.request_id] = note
        elif (source := SourceRecord.parse(line)) is not None:
            sources[source.request_id] = source.function
    invocations = []
    for report in reports:
        note = notes.get(report.request_id)
        function = note.function if note else sources.get(report.request_id, UNNAMED_FUNCTION)
        invocations.append(Invocation(report, note, function))
    return invocations
