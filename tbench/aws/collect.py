"""The functions' REPORT lines of a run's window, from CloudWatch Logs.

CloudWatch Logs receives a function's lines seconds (sometimes minutes) after it ran, so the
collector reads every group again until the counts stop growing (unchanged for `settle_s`),
reach what the load implies, or `timeout_s` passes; then it says what is missing. A group
that never appears is waited for within the same bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from contract.aws import FunctionLogs, LogCollection
from contract.lambda_report import LambdaReport, SourceRecord

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

REPORT_PATTERN = '"REPORT RequestId"'  # CloudWatch Logs' filter syntax: the exact phrase


@dataclass(frozen=True, kw_only=True)
class CollectSettings:
    """How long to wait for CloudWatch Logs, and how often to look."""

    timeout_s: float = 300.0
    poll_s: float = 5.0
    settle_s: float = 20.0
    page_size: int | None = None  # events per filter_log_events page (None: the API's own)


@dataclass(frozen=True)
class Collected:
    """One REPORT line as CloudWatch Logs holds it, and where it came from."""

    timestamp_ms: int
    message: str
    source: SourceRecord


@dataclass(frozen=True)
class Window:
    """The run's window in epoch milliseconds (CloudWatch Logs' event timestamps)."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class LogRequest:
    """What to read: each function's group (logical id -> group name), the invocations the
    load implies per function (where known), and the run's window."""

    groups: Mapping[str, str]
    expected: Mapping[str, int]
    window: Window


def read_group(
    logs: CloudWatchLogsClient, function: str, group: str, window: Window, page_size: int | None
) -> dict[str, Collected] | None:
    """Every REPORT line of one group in the window, by event id, following every page; None
    if the group is not there (yet). ClientError on any other refusal."""
    lines: dict[str, Collected] = {}
    try:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=group,
            startTime=window.start_ms,
            endTime=window.end_ms,
            filterPattern=REPORT_PATTERN,
            PaginationConfig={"PageSize": page_size} if page_size else {},
        )
        for page in pages:
            for event in page.get("events", []):
                message = event.get("message", "").rstrip("\n")
                report = LambdaReport.parse(message)
                if report is None:  # the pattern matched a line of the handler's own
                    continue
                source = SourceRecord(report.request_id, function, event.get("logStreamName", ""))
                lines[event.get("eventId", report.request_id)] = Collected(
                    event.get("timestamp", 0), message, source
                )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    return lines


def collect_reports(
    logs: CloudWatchLogsClient,
    request: LogRequest,
    settings: CollectSettings,
    say: Callable[[str], None] = lambda _: None,
) -> tuple[list[Collected], LogCollection]:
    """Read every group until the counts settle, reach what is expected, or the timeout
    passes; the lines in time order and the record of what was read and missed. ClientError
    on anything but a missing group."""
    groups, expected, window = request.groups, request.expected, request.window
    started = time.monotonic()
    found: dict[str, dict[str, Collected] | None] = {}
    counts: tuple[int, ...] = ()
    changed_at, polls = started, 0
    while True:
        polls += 1
        found = {
            fn: read_group(logs, fn, group, window, settings.page_size)
            for fn, group in groups.items()
        }
        now_counts = tuple(len(lines or {}) for lines in found.values())
        if now_counts != counts:
            counts, changed_at = now_counts, time.monotonic()
            say(f"CloudWatch Logs: {sum(counts)} REPORT lines so far")
        every_group = all(lines is not None for lines in found.values())
        complete = every_group and all(
            len(found[fn] or {}) >= count for fn, count in expected.items() if fn in found
        )
        quiet = (
            every_group and sum(counts) > 0 and time.monotonic() - changed_at >= settings.settle_s
        )
        if complete or quiet or time.monotonic() - started >= settings.timeout_s:
            break
        time.sleep(settings.poll_s)
    record = _record(request, found, polls, complete or quiet)
    lines = sorted(
        (line for group_lines in found.values() for line in (group_lines or {}).values()),
        key=lambda line: line.timestamp_ms,
    )
    return lines, record


def _record(
    request: LogRequest,
    found: Mapping[str, dict[str, Collected] | None],
    polls: int,
    settled: bool,
) -> LogCollection:
    """What was read per function, and each gap in words."""
    groups, expected, window = request.groups, request.expected, request.window
    functions, missing = [], []
    for function, group in groups.items():
        lines = found.get(function)
        count = len(lines or {})
        want = expected.get(function)
        functions.append(
            FunctionLogs(
                function=function,
                log_group=group,
                reports=count,
                expected=want,
                group_found=lines is not None,
            )
        )
        if lines is None:
            missing.append(f"{function}: no log group {group} (its invocations are not priced)")
        elif want is not None and count < want:
            missing.append(
                f"{function}: {count} REPORT lines of {want} invocations the load implies"
            )
    return LogCollection(
        window_start_ms=window.start_ms,
        window_end_ms=window.end_ms,
        polls=polls,
        settled=settled,
        functions=functions,
        missing=missing,
    )


def report_log_lines(lines: list[Collected]) -> list[str]:
    """The REPORT log as the emulator writes it: each REPORT line, then its SOURCE line."""
    return [text for line in lines for text in (line.message, line.source.line())]
