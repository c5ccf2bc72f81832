"""The figures of a run, each a function of RunData returning a matplotlib Figure.

`build_figures` makes them all; a figure whose data the run lacks comes back as a note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from matplotlib.figure import Figure

from analysis.figures.cost import cost_vs_users
from analysis.figures.efficiency import (
    bytes_per_message,
    cpu_per_1k_messages,
    requests_per_message,
    rss_per_connection,
)
from analysis.figures.latency import (
    delivery_cdf,
    latency_and_cpu_over_time,
    latency_percentiles,
    latency_vs_users,
)
from analysis.figures.network import latency_vs_rtt
from analysis.figures.overload import overload_timeline
from analysis.figures.serverless import lambda_invocations, lambda_memory
from analysis.figures.style import MissingData
from analysis.figures.theory import short_polling_vs_theory
from analysis.load import RunData
from cost_model.pricing import Pricing

__all__ = [
    "FIGURES",
    "FigureSpec",
    "MissingData",
    "RenderedFigure",
    "build_figures",
    "bytes_per_message",
    "cost_vs_users",
    "cpu_per_1k_messages",
    "delivery_cdf",
    "lambda_invocations",
    "lambda_memory",
    "latency_and_cpu_over_time",
    "latency_percentiles",
    "latency_vs_rtt",
    "latency_vs_users",
    "overload_timeline",
    "requests_per_message",
    "rss_per_connection",
    "short_polling_vs_theory",
]


@dataclass(frozen=True)
class FigureSpec:
    """A figure of the catalogue: its key (for anchors and files), title and caption."""

    key: str
    title: str
    caption: str
    build: Callable[[RunData], Figure]


@dataclass(frozen=True)
class RenderedFigure:
    """A built figure, or the note saying why the run cannot have it."""

    spec: FigureSpec
    figure: Figure | None
    note: str | None = None


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "delivery-cdf",
        "Delivery latency distribution",
        "Share of deliveries at or under each latency (HDR histograms, every delivery of the "
        "measured window), log scale.",
        delivery_cdf,
    ),
    FigureSpec(
        "latency-percentiles",
        "Delivery latency percentiles",
        "p50, p95 and p99 delivery latency (receipt − sent_at) per target, log scale.",
        latency_percentiles,
    ),
    FigureSpec(
        "latency-vs-users",
        "Latency as users grow",
        "p95 (solid) and p50 (dashed) delivery latency at each step of a sweep.",
        latency_vs_users,
    ),
    FigureSpec(
        "cpu-per-1k",
        "CPU per 1,000 delivered messages",
        "Server CPU-seconds in the measured window per 1,000 delivered messages. The lambda "
        "target is left out: its local server is the emulator, not what AWS bills.",
        cpu_per_1k_messages,
    ),
    FigureSpec(
        "rss-per-connection",
        "Memory per connection",
        "Server resident memory per open connection with every connection open: growth from "
        "the first sample, less what the messages held in history take, so it does not grow "
        "with the run's length (emulated Lambda left out).",
        rss_per_connection,
    ),
    FigureSpec(
        "bytes-per-message",
        "Bytes per delivered message",
        "Bytes both ways at the client sockets per delivered message: the scenario's payload, "
        "and the overhead (message envelope, HTTP headers, WebSocket framing, the publish's "
        "share, empty polls).",
        bytes_per_message,
    ),
    FigureSpec(
        "requests-per-message",
        "Requests per delivered message",
        "HTTP requests, WebSocket upgrades and frames sent by clients per delivered message.",
        requests_per_message,
    ),
    FigureSpec(
        "over-time",
        "Latency and CPU over time",
        "Delivery p50 over Locust's recent window, and server CPU, from each target's start.",
        latency_and_cpu_over_time,
    ),
    FigureSpec(
        "lambda",
        "Lambda invocations, cold starts and billed duration",
        "From the REPORT lines: invocations per function (hatched: cold starts), billed "
        "duration, and the init duration of each cold start.",
        lambda_invocations,
    ),
    FigureSpec(
        "lambda-memory",
        "Lambda duration and cost against memory",
        "The memory tune after the load: the real sendMessage to a room of 10, one invocation at "
        "a time, each environment given memory/1,769 vCPU as on AWS; duration p50 and p95 "
        "(REPORT lines, cold start excluded), and the cost of a million invocations (compute "
        "at the billed p50 + requests). Power tuning's trade-off: more memory is dearer per "
        "ms but buys CPU, until the handler waits on I/O more than it computes.",
        lambda_memory,
    ),
    FigureSpec(
        "cost-vs-users",
        "Monthly cost vs users",
        "The chat habits at 10 to 10 million users: each container transport's Fargate tasks "
        "sized from the capacity it measured at the SLO under its CPU quota (or more for "
        "memory), plus the load balancer's LCUs and data transfer out; the serverless bill "
        "(API Gateway messages and connection-minutes, Lambda at the measured billed durations "
        "and INIT, DynamoDB, data transfer) from the lambda target's run (`tbench plan`).",
        cost_vs_users,
    ),
    FigureSpec(
        "overload",
        "Under overload: load and p99 over time",
        "Each target from its measured knee (×1) to ×2 and ×4 of it, then down to ×0.5: "
        "deliveries a second offered (dashed: if every user got in) and delivered (solid, by "
        "the second each message was sent in), and that second's delivery p99 against the SLO.",
        overload_timeline,
    ),
    FigureSpec(
        "short-polling-theory",
        "Short polling: measured vs theory",
        "Mean delivery against T/2 + RTT (RTT: mean empty-poll round trip) and p99 against "
        "0.99·T (docs/metrics.md, Theory).",
        short_polling_vs_theory,
    ),
    FigureSpec(
        "latency-vs-rtt",
        "Delivery latency against RTT",
        "Delivery p50 per transport under each network profile (tbench run --network), at the "
        "RTT measured on the path. Short polling's theory is T/2 + RTT from the server's "
        "receipt (docs/metrics.md, Theory) plus the publish's one way (RTT/2): latency starts "
        "at the send.",
        latency_vs_rtt,
    ),
)


def build_figures(data: RunData, pricing: Pricing | None = None) -> list[RenderedFigure]:
    """Every figure of the catalogue for this run; missing data gives a note, not an error."""
    rendered = []
    for spec in FIGURES:
        build = spec.build
        if spec.build in (cost_vs_users, lambda_memory):
            build = partial(spec.build, pricing=pricing)
        try:
            rendered.append(RenderedFigure(spec, build(data)))
        except MissingData as missing:
            rendered.append(RenderedFigure(spec, None, str(missing)))
    return rendered
