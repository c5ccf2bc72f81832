"""The plan over a range of scales: each transport's monthly bill as users grow, and where the
serverless bill passes each container fleet's (both from measurements: capacity per task, and
the lambda target's durations)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from cost_model.at_scale import MeasuredTransport, Scale
from cost_model.measured import MeasuredLambda
from cost_model.plan import plan
from cost_model.pricing import Pricing

LOWEST_USERS = 10
HIGHEST_USERS = 10_000_000
POINTS_PER_DECADE = 12


def users_range(
    low: int = LOWEST_USERS, high: int = HIGHEST_USERS, per_decade: int = POINTS_PER_DECADE
) -> list[int]:
    """User counts from `low` to `high`, evenly spaced on a log scale, without repeats."""
    steps = round(math.log10(high / low) * per_decade)
    return sorted({round(low * 10 ** (i / per_decade)) for i in range(steps + 1)})


def bill_curves(
    scale: Scale,
    users: Sequence[int],
    containers: list[MeasuredTransport],
    serverless: MeasuredLambda | None,
    pricing: Pricing,
) -> dict[str, list[Decimal | None]]:
    """Each transport's monthly total at `scale`'s habits for every count in `users` (None
    where a fleet could not be sized)."""
    curves: dict[str, list[Decimal | None]] = {}
    for count in users:
        for row in plan(replace(scale, users=count), containers, serverless, pricing).rows:
            curves.setdefault(row.transport, []).append(row.total_usd)
    return curves


@dataclass(frozen=True)
class ScaleCrossover:
    """Where the serverless bill passes one container transport's, as users grow."""

    serverless: str
    containers: str
    users: int | None  # the fewest users at which serverless is dearer; None: never in range
    dearer_from_start: bool  # serverless is dearer already at the fewest users looked at

    def describe(self) -> str:
        """The crossover in words."""
        if self.users is None:
            return (
                f"{self.serverless} stays cheaper than {self.containers} up to "
                f"{HIGHEST_USERS:,} users"
            )
        if self.dearer_from_start:
            return (
                f"{self.serverless} is dearer than {self.containers} from {self.users:,} users on"
            )
        return f"{self.serverless} becomes dearer than {self.containers} above {self.users:,} users"


def crossovers(
    scale: Scale,
    containers: list[MeasuredTransport],
    serverless: MeasuredLambda,
    pricing: Pricing,
) -> list[ScaleCrossover]:
    """For each container transport that can be sized, the fewest users (same habits) at
    which the serverless bill is the dearer: found on a log grid, then by bisection."""
    found = []
    for transport in containers:

        def dearer(users: int, transport: MeasuredTransport = transport) -> bool | None:
            rows = plan(replace(scale, users=users), [transport], serverless, pricing).rows
            fleet, lambda_row = rows
            if fleet.total_usd is None or lambda_row.total_usd is None:
                return None
            return lambda_row.total_usd > fleet.total_usd

        grid = users_range()
        if dearer(grid[0]) is None:
            continue
        if dearer(grid[0]):
            found.append(ScaleCrossover(serverless.target, transport.name, grid[0], True))
            continue
        crossing = None
        for low, high in itertools.pairwise(grid):
            if dearer(high):
                while high - low > 1:
                    middle = (low + high) // 2
                    low, high = (low, middle) if dearer(middle) else (middle, high)
                crossing = high
                break
        found.append(ScaleCrossover(serverless.target, transport.name, crossing, False))
    return found
