"""A small synthetic run directory with round numbers, for pricing tests."""

from __future__ import annotations

from pathlib import Path

from contract.lambda_report import REPORT_LOG_FILE, EmulatorRecord, LambdaReport
from contract.results import HostInfo, RunResult, TargetResult, TargetStatus, save_run
from contract.scenario import parse_scenario

SCENARIO = parse_scenario(
    {
        "name": "tiny",
        "rooms": 2,
        "users_per_room": 5,
        "publisher_fraction": 0.2,  # one publisher per room
        "publish_rate_per_s": 1.0,
        "payload_bytes": 100,
        "spawn_rate": 10.0,
        "warmup_s": 1.0,
        "duration_s": 10.0,
    }
)
BASE_RSS = 50 * 1024 * 1024


def report_lines(function: str, count: int, billed_ms: int, *, named: bool = True) -> list[str]:
    """`count` REPORT lines of `billed_ms` each (the first a cold start), with emulator notes."""
    lines = []
    for index in range(count):
        request_id = f"{function}-{index}"
        init = 250.0 if index == 0 else None
        report = LambdaReport(request_id, billed_ms - 0.5, billed_ms, 256, 60, init)
        lines.append(report.line())
        if named:
            lines.append(EmulatorRecord(request_id, function, f"{function}-1", 0.0, 1.0).line())
    return lines


def write_run(run_dir: Path, *, named: bool = True) -> Path:
    """websocket (measured server), lambda (REPORT lines), sse (failed): a priceable run."""
    run = RunResult(
        run_id="tiny-run",
        started_at="2026-01-01T00:00:00+00:00",
        host=HostInfo(
            hostname="test",
            os="Linux",
            cpu_model="test cpu",
            cpu_count_logical=2,
            cpu_count_physical=2,
            ram_bytes=2**33,
        ),
        python="3.11",
        scenario=SCENARIO,
        status="complete",
        targets={
            "websocket": TargetResult(
                target="websocket",
                family="websocket",
                status=TargetStatus.OK,
                metrics={
                    "server_cpu_s_per_1k_delivered": 0.5,
                    "server_rss_per_connection_bytes": 10 * 1024,
                    "server_rss_max_bytes": BASE_RSS + 10 * 10 * 1024,
                    "server_connections_max": 10,
                },
            ),
            "lambda": TargetResult(
                target="lambda",
                family="websocket",
                status=TargetStatus.OK,
                metrics={
                    "published": 100,
                    "users": 10,
                    "reconnects": 0,
                    "bytes_per_delivered": 300,
                },
            ),
            "sse": TargetResult(
                target="sse", family="sse", status=TargetStatus.FAILED, error="did not start"
            ),
        },
    )
    save_run(run_dir, run)
    lines = [
        *report_lines("ConnectFunction", 10, 20, named=named),
        *report_lines("SendMessageFunction", 100, 100, named=named),
        *report_lines("DisconnectFunction", 10, 20, named=named),
    ]
    (run_dir / "lambda").mkdir(parents=True, exist_ok=True)
    (run_dir / "lambda" / REPORT_LOG_FILE).write_text("\n".join(lines) + "\n")
    return run_dir
