"""Everything the report template shows, computed from a run directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis.figures import build_figures
from analysis.load import RunData
from cost_model.measured import measured_from, price_run
from cost_model.measured_render import describe_durations
from cost_model.pricing import DEFAULT_PRICING_FILE, Pricing, load_pricing
from reports.capacity import CapacitySection, capacity_section
from reports.costs import CostTable, TalkExample, cost_table, talk_example
from reports.faults import FaultSection, fault_section
from reports.memory import MemorySection, memory_section
from reports.methodology import Methodology, methodology, warnings
from reports.network import NetworkSection, network_section
from reports.overload import OverloadSection, overload_section
from reports.svg import figure_svg
from reports.verdict import VERDICT_METRICS, GuaranteeRow, VerdictRow, guarantee_rows, verdict_rows


@dataclass(frozen=True)
class FigureBlock:
    """One figure of the report: inline SVG, or the note saying why it is not there."""

    key: str
    title: str
    caption: str
    svg: str | None
    note: str | None


@dataclass(frozen=True)
class ReportContext:
    """The report's content, section by section."""

    title: str
    run_id: str
    scenario_name: str
    scenario_description: str
    started_at: str
    run_status: str
    warnings: list[str]
    verdict_headers: list[str]
    verdict: list[VerdictRow]
    verdict_pricing: str
    currency: str
    figures: list[FigureBlock]
    guarantees: list[GuaranteeRow]
    faults: FaultSection | None  # None: no target had faults injected
    network: NetworkSection | None  # None: no target ran under `tbench run --network`
    memory: MemorySection | None  # None: no target measured
    overload: OverloadSection | None  # None: no target ran an overload
    capacity: CapacitySection | None  # None: no target measured its capacity
    talks: list[TalkExample]  # the talk's Lambda bill at each set of prices
    cost_tables: list[CostTable]
    methodology: Methodology


def figure_blocks(data: RunData, pricing: Pricing) -> list[FigureBlock]:
    """Every figure as inline SVG (closed once drawn), or its note."""
    blocks = []
    for rendered in build_figures(data, pricing):
        spec = rendered.spec
        svg = None
        if rendered.figure is not None:
            svg = figure_svg(rendered.figure, f"fig-{spec.key}")
            rendered.figure.clear()  # free the memory of a long report
        blocks.append(FigureBlock(spec.key, spec.title, spec.caption, svg, rendered.note))
    return blocks


def report_context(data: RunData, pricing_file: Path | None = None) -> ReportContext:
    """Compute the report: default prices, and the user's file beside them when given."""
    price_sets = [(load_pricing(), f"default prices ({DEFAULT_PRICING_FILE})")]
    if pricing_file is not None:
        price_sets.append((load_pricing(pricing_file), f"your prices ({pricing_file.name})"))
    measured = measured_from(data.run, data.path)
    priced = [(price_run(measured, pricing), pricing, origin) for pricing, origin in price_sets]
    # The verdict and the figures use the user's prices when given, the default ones otherwise.
    verdict_priced, verdict_pricing, verdict_origin = priced[-1]
    run = data.run
    faults = fault_section(data)
    durations = describe_durations(measured)
    network = network_section(data)
    return ReportContext(
        title=f"transport-bench: {run.scenario.name} on {len(data.targets)} targets",
        run_id=run.run_id,
        scenario_name=run.scenario.name,
        scenario_description=run.scenario.description,
        started_at=run.started_at,
        run_status=run.status,
        warnings=warnings(data)
        + (faults.warnings if faults is not None else [])
        + (network.warnings if network is not None else []),
        verdict_headers=[header for _, header in VERDICT_METRICS],
        verdict=verdict_rows(data, verdict_priced),
        verdict_pricing=verdict_origin,
        currency=verdict_pricing.currency,
        figures=figure_blocks(data, verdict_pricing),
        guarantees=guarantee_rows(data),
        faults=faults,
        network=network,
        memory=memory_section(data),
        overload=overload_section(data),
        capacity=capacity_section(data, verdict_pricing),
        talks=[talk_example(pricing, origin) for pricing, origin in price_sets],
        cost_tables=[
            cost_table(run_priced, p, origin, durations) for run_priced, p, origin in priced
        ],
        methodology=methodology(data),
    )
