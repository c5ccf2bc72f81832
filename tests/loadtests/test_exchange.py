"""The typed contracts between processes: Locust's messages (msgpack, as Locust sends them)
and the loadgen.json / status.json the runner reads, written and read through one model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from contract.loadgen import LiveStatus, LoadgenResult
from contract.scenario import FaultSlot
from tbench.runner.summarize import loadgen_metrics

SCRIPT = Path(__file__).parent / "fixtures" / "exchanged_worker.py"
REPO = Path(__file__).parents[2]
SLOT = FaultSlot(kind="drop", start=10.0, at=10.5, end=12.0)


def test_an_export_crosses_to_the_master_and_the_runner_reads_its_loadgen_json(tmp_path: Path):
    path = tmp_path / "loadgen.json"
    subprocess.run([sys.executable, str(SCRIPT), str(path)], cwd=REPO, timeout=60, check=True)
    result = LoadgenResult.read(path)
    assert (result.processes, result.delivery.expected, result.delivery.delivered) == (2, 3, 2)
    assert result.measured_window() == (9.5, 12.0)
    (fault,) = result.faults
    assert (fault.slot, fault.lost, fault.late, fault.reconnects) == (SLOT, 1, 1, 1)
    assert fault.reconnect_p50_ms is not None
    assert round(fault.reconnect_p50_ms) == 200
    metrics = loadgen_metrics(result)
    assert (metrics["requests"], metrics["errors"], metrics["bytes_per_delivered"]) == (7, 1, 600)
    assert metrics["delivery_p50_ms"] == 2.0


def test_the_live_status_is_none_until_written_and_then_read_back(tmp_path: Path):
    path = tmp_path / "status.json"
    assert LiveStatus.read(path) is None
    status = LiveStatus(
        phase="measuring", users=6, deliver_per_s=30.0, faults=[SLOT], updated_at=1.0
    )
    status.write(path)
    assert LiveStatus.read(path) == status
    path.write_text('{"phase": "measuring"')  # never so (written atomically), but read calmly
    assert LiveStatus.read(path) is None
