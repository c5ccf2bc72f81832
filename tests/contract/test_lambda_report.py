from __future__ import annotations

import pytest

from contract.lambda_report import EmulatorRecord, LambdaReport, billed_duration_ms, read_reports

AWS_LINE = (
    "REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3\tDuration: 12.34 ms\t"
    "Billed Duration: 13 ms\tMemory Size: 256 MB\tMax Memory Used: 80 MB\t"
    "Init Duration: 250.12 ms\t"
)


@pytest.mark.parametrize(("duration", "billed"), [(0.01, 1), (1.0, 1), (1.001, 2), (12.34, 13)])
def test_billed_duration_rounds_up_to_the_millisecond(duration: float, billed: int) -> None:
    assert billed_duration_ms(duration) == billed


def test_a_cold_start_line_reads_and_writes_in_aws_format() -> None:
    report = LambdaReport.parse(AWS_LINE)
    request_id = "3604209a-e9a3-11e6-939a-754dd98c7be3"
    assert report == LambdaReport(request_id, 12.34, 13, 256, 80, 250.12)
    assert report.line() == AWS_LINE


def test_a_warm_line_has_no_init_duration() -> None:
    line = LambdaReport("r1", 3.0, 3, 256, 60).line()
    assert "Init Duration" not in line
    parsed = LambdaReport.parse(line)
    assert parsed is not None
    assert parsed.init_duration_ms is None


def test_status_and_emulator_lines_round_trip() -> None:
    timed_out = LambdaReport("r2", 10_000.0, 10_000, 256, 70, None, "timeout")
    assert LambdaReport.parse(timed_out.line()) == timed_out
    record = EmulatorRecord("r2", "SendMessageFunction", "SendMessageFunction-3", 4.5, 0.42)
    assert EmulatorRecord.parse(record.line()) == record
    assert LambdaReport.parse(record.line()) is None


def test_read_reports_skips_other_log_lines() -> None:
    lines = ["START RequestId: x Version: $LATEST", AWS_LINE, "END RequestId: x"]
    assert [r.request_id for r in read_reports(lines)] == ["3604209a-e9a3-11e6-939a-754dd98c7be3"]


def test_lines_from_cloudwatch_are_named_by_their_source_line():
    from contract.lambda_report import SourceRecord, read_invocations

    report = LambdaReport("r9", 12.5, 13, 256, 70, 300.25)
    source = SourceRecord("r9", "SendMessageFunction", "2026/01/01/[$LATEST]abc def")
    assert SourceRecord.parse(source.line()) == source
    lines = [report.line(), source.line(), LambdaReport("r10", 1.0, 1, 256, 70).line()]
    invocations = read_invocations(lines)
    assert [(i.report.request_id, i.note, i.function) for i in invocations] == [
        ("r9", None, "SendMessageFunction"),
        ("r10", None, "(unnamed)"),
    ]
