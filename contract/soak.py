"""A soak: steady load for a long while, held to a flat memory line once warmed up.

History is bounded per room by count and by age (docs/protocol.md "History"), so once the
warm-up has filled it a server's RSS at steady load must stay level. A soak compares the RSS
just after the warm-up with the RSS at the end of the measured window; each is the median of
the samples in a short window, so one sample's allocator blip decides nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SoakRule(BaseModel):
    """A scenario's `[soak]` table: how much RSS may grow after the warm-up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_rss_growth_percent: float = Field(
        default=5.0, gt=0, description="RSS growth from after warm-up to the end that fails"
    )
    sample_window_s: float = Field(
        default=10.0, gt=0, description="RSS is the median of the samples over this long"
    )


class SoakResult(BaseModel):
    """One target's soak: its server's RSS (the whole process tree) at three points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rss_start_bytes: int = Field(ge=0, description="first sample, before any client connected")
    rss_after_warmup_bytes: int = Field(ge=0, description="median over the window's first span")
    rss_end_bytes: int = Field(ge=0, description="median over the measured window's last span")
    growth_percent: float  # end against after warm-up
    max_growth_percent: float
    measured_s: float = Field(ge=0, description="from after warm-up to the end")
    passed: bool

    def verdict(self, target: str) -> str:
        """One line naming the target, its RSS after warm-up and at the end, and the rule."""
        word = "passed" if self.passed else "FAILED"
        return (
            f"soak {word}: {target}: RSS {self.rss_after_warmup_bytes / 1e6:.1f} MB after "
            f"warm-up → {self.rss_end_bytes / 1e6:.1f} MB at the end over {self.measured_s:.0f} s "
            f"({self.growth_percent:+.1f} %, limit {self.max_growth_percent:g} %; "
            f"{self.rss_start_bytes / 1e6:.1f} MB at start)"
        )


def soak_result(
    rule: SoakRule, start_rss: int, after_warmup_rss: int, end_rss: int, measured_s: float
) -> SoakResult:
    """The soak's verdict from its three RSS readings (bytes)."""
    growth = (end_rss - after_warmup_rss) / after_warmup_rss * 100 if after_warmup_rss else 0.0
    return SoakResult(
        rss_start_bytes=start_rss,
        rss_after_warmup_bytes=after_warmup_rss,
        rss_end_bytes=end_rss,
        growth_percent=round(growth, 2),
        max_growth_percent=rule.max_rss_growth_percent,
        measured_s=round(measured_s, 1),
        passed=growth < rule.max_rss_growth_percent,
    )
