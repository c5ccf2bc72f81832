"""Lambda's log delivery, played for the tests: the emulator's REPORT lines into moto's groups.

On AWS, Lambda writes each invocation's REPORT line to `/aws/lambda/<function>`. Here the local
emulator runs the invocations, so a thread tails its REPORT log and puts each line, as the
emulator wrote it, into the group of the same function of the run's stack, stamped with the time
it was shipped. The functions' names come from the run's `aws-resources.json`, written once the
stack is up: asking moto's CloudFormation while it creates the stack could make it create a
resource twice (it builds them lazily, on first access).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from pydantic import ValidationError

from contract.aws import AwsResources
from contract.lambda_report import UNNAMED_FUNCTION, read_invocations

STREAM = "2026/01/01/[$LATEST]tbenchtest"


class LogShipper(threading.Thread):
    """Ships new REPORT lines of `report_log` to the groups of the run whose resources file
    is `resources_file`."""

    def __init__(self, report_log: Path, resources_file: Path, interval_s: float = 0.2) -> None:
        super().__init__(name="log-shipper", daemon=True)
        self.report_log = report_log
        self.resources_file = resources_file
        self.interval_s = interval_s
        self.offset = report_log.stat().st_size if report_log.exists() else 0
        self.pending = ""
        self.shipped = 0
        self.stopping = threading.Event()
        self.logs: Any = boto3.client("logs")
        self.streams: set[str] = set()

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            groups = self._groups()
            if groups:
                self._ship(groups)

    def _groups(self) -> dict[str, str]:
        """Function logical id -> its log group, once the run has named its functions."""
        try:
            resources = AwsResources.model_validate_json(self.resources_file.read_text())
        except (OSError, ValidationError):  # not written yet, or being replaced
            return {}
        return {logical: f"/aws/lambda/{name}" for logical, name in resources.functions.items()}

    def _new_lines(self) -> list[str]:
        if not self.report_log.exists():
            return []
        with self.report_log.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        whole = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(whole)
        return (self.pending + whole.decode()).splitlines()

    def _ship(self, groups: dict[str, str]) -> None:
        lines = self._new_lines()
        unmatched: list[str] = []
        for report, _, function in read_invocations(lines):
            if function == UNNAMED_FUNCTION:  # its EMULATOR line is not written yet
                unmatched.append(report.line())
                continue
            if function in groups:
                self._put(groups[function], report.line())
        self.pending = "".join(f"{line}\n" for line in unmatched)

    def _put(self, group: str, message: str) -> None:
        try:
            if group not in self.streams:
                self.logs.create_log_stream(logGroupName=group, logStreamName=STREAM)
                self.streams.add(group)
            self.logs.put_log_events(
                logGroupName=group,
                logStreamName=STREAM,
                logEvents=[{"timestamp": int(time.time() * 1000), "message": f"{message}\n"}],
            )
            self.shipped += 1
        except ClientError:  # the stack (and its groups) is being deleted: Lambda's logs too
            pass
