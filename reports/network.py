"""The report's "Over emulated links" section (`tbench run --network`): per target and
profile, the path as asked and as measured, delivery, what a message costs on the wire, loss,
and the relay's own cost."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.load import RunData
from contract.network_profile import RTT_TOLERANCE
from contract.registry import TARGETS
from reports.formatting import DASH, integer, number

RELAY_BUSY_PERCENT = 80.0


@dataclass(frozen=True)
class NetworkRow:
    """One target under one profile, formatted."""

    target: str
    profile: str
    mechanism: str
    rtt: str  # asked / measured p50 (ms)
    loss: str
    delivery_ms: str  # p50 / p95
    bytes_per_delivered: str
    requests_per_delivered: str
    delivered: str  # delivered / expected
    lost: str
    retransmits: str
    relay_cpu: str  # µs per delivered message
    off_rtt: str | None  # why the measured RTT is no measurement of the profile; None if it is


@dataclass(frozen=True)
class NetworkSection:
    """The table and the warnings it raises."""

    rows: list[NetworkRow]
    warnings: list[str]


def network_section(data: RunData) -> NetworkSection | None:
    """The section, or None when no target ran under a network profile."""
    rows: list[NetworkRow] = []
    for key in data.targets:
        result = data.run.targets[key]
        network = result.network
        if network is None:
            continue
        profile = network.profile
        asked, measured = profile.rtt_ms, network.rtt_p50_ms
        off = None
        if measured is not None and abs(measured - asked) > max(asked * RTT_TOLERANCE, 1.0):
            off = (
                f"{key}: the path's measured RTT ({measured:.1f} ms) is more than "
                f"{RTT_TOLERANCE:.0%} from the profile's {asked:g} ms"
            )
        metric = result.metrics.get
        rows.append(
            NetworkRow(
                target=result.target,
                profile=profile.name,
                mechanism=network.mechanism,
                rtt=f"{asked:g} / {number(measured)}",
                loss=f"{profile.loss * 100:g} %",
                delivery_ms=f"{number(metric('delivery_p50_ms'))} / "
                f"{number(metric('delivery_p95_ms'))}",
                bytes_per_delivered=number(metric("bytes_per_delivered")),
                requests_per_delivered=number(metric("requests_per_delivered")),
                delivered=f"{integer(metric('delivered'))} / {integer(metric('expected'))}",
                lost=integer(metric("lost")),
                retransmits=integer(network.retransmits),
                relay_cpu=number(network.relay_cpu_us_per_delivered) or DASH,
                off_rtt=off,
            )
        )
    if not rows:
        return None
    warnings = [row.off_rtt for row in rows if row.off_rtt]
    for key in data.targets:
        result = data.run.targets[key]
        spec = TARGETS.get(result.target)
        lost = result.metrics.get("lost")
        if result.network is not None and spec is not None and spec.supports_resume and lost:
            warnings.append(
                f"{key}: {lost:g} messages lost over the link, though {result.target} resumes "
                "from a cursor: a lossy link must only delay it"
            )
        busy = result.network.relay_cpu_percent if result.network else None
        if busy is not None and busy > RELAY_BUSY_PERCENT:
            warnings.append(
                f"{key}: the delay relay used {busy:.0f} % of a core: it may have added "
                "latency of its own (netem, where the kernel has it, would not)"
            )
    return NetworkSection(rows, warnings)
