"""Short polling against theory: mean delivery ≈ T/2 + RTT (sleep after response).

The figure: docs/metrics.md "Theory".

At low load (20 rooms × 2 users, one publisher per room at 1 msg/s) the measured mean
delivery latency should be within 15 % of T/2 + RTT, where RTT is the measured mean round
trip of an empty poll. Runs `tbench run`'s machinery on the short-polling target.

    .venv/bin/python -m benchmarks.short_polling_theory [--interval 1.0] [--duration 25]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from contract.registry import get_target
from contract.results import TargetStatus
from tbench.runner.options import RunOptions
from tbench.runner.run import ComparisonRun

TOLERANCE = 0.15


def scenario_toml(interval_s: float, duration_s: float) -> str:
    """A low-load short-polling scenario with poll interval `interval_s`."""
    return (
        'description = "short polling vs T/2 + RTT"\n'
        "rooms = 20\nusers_per_room = 2\npublisher_fraction = 0.5\npublish_rate_per_s = 1.0\n"
        f"payload_bytes = 64\npoll_interval_s = {interval_s}\nspawn_rate = 100.0\n"
        f"settle_s = 1.0\nwarmup_s = {2 * interval_s}\nduration_s = {duration_s}\n"
        f"drain_s = {2 * interval_s + 1}\n"
    )


def mean_response_ms(stats_csv: Path, name: str) -> float:
    """Locust's average response time of one request name."""
    with stats_csv.open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == name:
                return float(row["Average Response Time"])
    raise LookupError(f"no {name!r} row in {stats_csv}")


def main() -> int:
    """Measure, predict, compare."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval T (s)")
    parser.add_argument("--duration", type=float, default=25.0, help="measured seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "short_polling_theory.toml"
        scenario.write_text(scenario_toml(args.interval, args.duration))
        options = RunOptions(
            targets=[get_target("short-polling")],
            scenario_ref=str(scenario),
            out_root=Path(tmp) / "results",
            verify=False,
            run_id="theory",
        )
        run = ComparisonRun(options, Console(stderr=True)).execute()
        result = run.targets["short-polling"]
        if result.status is not TargetStatus.OK:
            print(f"short-polling failed: {result.error}")
            return 1
        rtt_ms = mean_response_ms(
            Path(tmp) / "results" / "theory" / "short-polling" / "locust_stats.csv", "empty poll"
        )
    measured_ms = float(result.metrics["delivery_mean_ms"] or 0.0)
    predicted_ms = args.interval * 1000 / 2 + rtt_ms
    error = measured_ms / predicted_ms - 1
    print(f"T = {args.interval:g} s, RTT (mean empty poll) = {rtt_ms:.2f} ms")
    print(
        f"mean delivery: measured {measured_ms:.1f} ms, predicted T/2 + RTT = {predicted_ms:.1f} ms"
    )
    print(
        f"difference {error:+.1%} (goal within ±{TOLERANCE:.0%}); "
        f"p99 {result.metrics['delivery_p99_ms']} ms vs 0.99·T = {990 * args.interval:.0f} ms"
    )
    print(f"delivered {result.metrics['delivered']} of {result.metrics['expected']}")
    return 0 if abs(error) <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
