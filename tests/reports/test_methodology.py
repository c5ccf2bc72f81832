from __future__ import annotations

import json

from analysis.load import load_run_dir
from contract.results import FLAG_LOADGEN_SATURATED, RUN_FILE
from reports.methodology import methodology, warnings
from tests.fixtures import copy_smoke_run


def _edited_run(tmp_path, edit):
    run_dir = copy_smoke_run(tmp_path / "run")
    run = json.loads((run_dir / RUN_FILE).read_text())
    edit(run)
    (run_dir / RUN_FILE).write_text(json.dumps(run))
    return load_run_dir(run_dir)


def test_methodology_reads_the_run_metadata(tmp_path):
    def edit(run):
        run["targets"]["sse"]["deployment"] = {"replicas": 2, "broker": "redis"}

    data = _edited_run(tmp_path, edit)
    m = methodology(data)
    assert ("payload_bytes", "64") in m.scenario
    held = dict(m.held_equal)
    assert data.run.held_equal is not None
    assert held["broker"] == data.run.held_equal.broker
    assert "uvloop" in held["uvicorn settings"]
    assert m.deployments == [("sse", "replicas = 2, broker = redis")]
    assert dict(m.provenance)["run id"] == data.run.run_id
    assert dict(m.definitions)["lost"].startswith("expected - delivered")


def test_warnings_name_saturation_and_failures(tmp_path):
    def edit(run):
        run["git_dirty"] = False
        sse = run["targets"]["sse"]
        sse["flags"] = [FLAG_LOADGEN_SATURATED]
        run["targets"]["websocket"].update(status="failed", error="did not start: port taken")

    notes = warnings(_edited_run(tmp_path, edit))
    assert any(n.startswith("sse: the load generator was saturated (") for n in notes)
    assert "websocket failed: did not start: port taken" in notes
    assert not any("uncommitted" in n for n in notes)
    assert any(n.startswith("lambda ran on the local API Gateway + Lambda emulator") for n in notes)
