"""Exact latency percentiles: HDR histograms in microseconds, mergeable across Locust workers."""

from __future__ import annotations

import io
from pathlib import Path

from hdrh.histogram import HdrHistogram
from pydantic import BaseModel

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is a hang, not a latency
SIGNIFICANT_FIGURES = 3
SUB_BUCKET_BITS = 11  # 3 significant figures: 2 * 10**3 rounded up to 2**11 sub-buckets
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)

DELIVERY = "delivery"  # receipt - actual send (`sent_at`)
DELIVERY_SCHEDULED = "delivery_scheduled"  # receipt - intended send (the open-loop schedule)
PUBLISH = "publish"
CONNECT = "connect"
FIRST_MESSAGE = "first_message"
PUBLISH_LAG = "publish_lag"  # actual send time - scheduled send time


class LatencySummary(BaseModel):
    """One histogram's count, mean, min, percentiles and max, in milliseconds (None: empty)."""

    count: int = 0
    mean_ms: float | None = None
    min_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    max_ms: float | None = None

    def by_stat(self) -> dict[str, float | None]:
        """{"mean": ..., "p50": ..., "max": ...}: the figures by the name of their statistic."""
        return {
            name.removesuffix("_ms"): value
            for name, value in self.model_dump(exclude={"count", "min_ms"}).items()
        }


def new_histogram() -> HdrHistogram:
    """An empty histogram with the suite's range and precision."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def step_name(metric: str, window: str) -> str:
    """The histogram of `metric` restricted to one window (a sweep step)."""
    return f"{metric}@{window}"


class LatencySet:
    """Named HDR histograms; values recorded in seconds, stored in microseconds."""

    def __init__(self) -> None:
        self.histograms: dict[str, HdrHistogram] = {}
        self.below_zero = 0  # latencies < 0: clocks not in step (kept at 1 µs, counted)
        self._pending: dict[str, dict[int, int]] = {}  # name -> quantized value -> count

    def get(self, name: str) -> HdrHistogram:
        """The histogram called `name`, created on first use."""
        histogram = self.histograms.get(name)
        if histogram is None:
            histogram = self.histograms[name] = new_histogram()
        return histogram

    def record(self, name: str, seconds: float) -> None:
        """Record one latency (the hot path: a dict increment, added to HDR in bulk)."""
        micros = int(seconds * 1_000_000)
        if micros < LOWEST_US:
            if micros < 0:
                self.below_zero += 1
            micros = LOWEST_US
        elif micros > HIGHEST_US:
            micros = HIGHEST_US
        # With 3 significant figures HDR keeps 2048 sub-buckets: values below 2048 µs are
        # exact, above that the resolution is 2^(bit_length - 11). Counting values rounded
        # down to that resolution and adding them in bulk (flush) builds the very same
        # histogram as one record_value() per message, at a fraction of the cost.
        shift = micros.bit_length() - SUB_BUCKET_BITS
        if shift > 0:
            micros = (micros >> shift) << shift
        pending = self._pending.get(name)
        if pending is None:
            pending = self._pending[name] = {}
        pending[micros] = pending.get(micros, 0) + 1

    def flush(self) -> None:
        """Add the pending counts to the histograms (every reader calls this first)."""
        pending, self._pending = self._pending, {}
        for name, counts in pending.items():
            histogram = self.get(name)
            for micros, count in counts.items():
                histogram.record_value(micros, count)

    def take_encoded(self) -> dict[str, bytes]:
        """Encode every non-empty histogram and reset it (a delta for the master)."""
        self.flush()
        encoded: dict[str, bytes] = {}
        for name, histogram in self.histograms.items():
            if histogram.get_total_count():
                encoded[name] = histogram.encode()
                histogram.reset()
        return encoded

    def add_encoded(self, encoded: dict[str, bytes]) -> None:
        """Merge encoded histograms (a worker's delta) into these."""
        self.flush()
        for name, payload in encoded.items():
            self.get(name).decode_and_add(payload)

    def summary_ms(self, name: str) -> LatencySummary:
        """Count, mean, min, percentiles and max of one histogram, in milliseconds."""
        self.flush()
        histogram = self.histograms.get(name)
        count = histogram.get_total_count() if histogram is not None else 0
        if histogram is None or count == 0:
            return LatencySummary()
        percentiles = {
            f"p{percentile:g}".replace(".", "") + "_ms": (
                histogram.get_value_at_percentile(percentile) / 1000.0
            )
            for percentile in PERCENTILES
        }
        return LatencySummary(
            count=count,
            mean_ms=histogram.get_mean_value() / 1000.0,
            min_ms=histogram.get_min_value() / 1000.0,
            max_ms=histogram.get_max_value() / 1000.0,
            **percentiles,
        )

    def percentile_ms(self, name: str, percentile: float) -> float | None:
        """One percentile in milliseconds, None when nothing was recorded."""
        self.flush()
        histogram = self.histograms.get(name)
        if histogram is None or histogram.get_total_count() == 0:
            return None
        return float(histogram.get_value_at_percentile(percentile)) / 1000.0

    def write(self, directory: Path) -> dict[str, str]:
        """Write `<name>.hgrm` (percentile distribution, ms) and `<name>.hdr` (encoded) files."""
        self.flush()
        directory.mkdir(parents=True, exist_ok=True)
        written: dict[str, str] = {}
        for name, histogram in sorted(self.histograms.items()):
            if histogram.get_total_count() == 0:
                continue
            stem = name.replace("@", "_at_")
            text = io.BytesIO()
            histogram.output_percentile_distribution(text, 1000)
            (directory / f"{stem}.hgrm").write_bytes(text.getvalue())
            (directory / f"{stem}.hdr").write_bytes(histogram.encode() + b"\n")
            written[name] = f"{stem}.hgrm"
        return written


def decode_file(path: Path) -> HdrHistogram:
    """Read a `.hdr` file written by LatencySet.write (for analysis)."""
    return HdrHistogram.decode(path.read_bytes().strip())
