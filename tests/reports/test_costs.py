from __future__ import annotations

from cost_model.measured import measure_run, price_run
from cost_model.pricing import load_pricing
from reports.costs import cost_table
from tests.cost_model.measured_run import write_run


def test_the_cost_table_shows_each_serverless_targets_init_line(tmp_path):
    pricing = load_pricing()
    priced = price_run(measure_run(write_run(tmp_path / "tiny-run")), pricing)
    table = cost_table(priced, pricing, "default prices")
    # one line for the lambda target, none for the websocket (containers) target; the figures
    # are worked out in tests/cost_model/test_measured.py
    assert table.init_lines == [
        "lambda: INIT phase: 52,560 of 5,191,200 invocations with INIT (1.01 %), 3,285.00 GB-s,"
        " 0.05 USD"
        " (billed since 2025-08-01)"
    ]
    assert any("their INIT phase billed since 2025-08-01" in a for a in table.assumptions)
