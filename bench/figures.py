"""How every benchmark turns samples into figures: nearest-rank percentiles, in one unit."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

UNITS = {"ms": 1e3, "us": 1e6}


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    data = sorted(values)
    if not data:
        return 0.0
    rank = max(0, min(len(data) - 1, round(q / 100 * len(data) + 0.5) - 1))
    return data[rank]


def summary(seconds: Sequence[float], unit: str = "ms", quantiles: Sequence[int] = (50, 99),
            extremes: bool = True) -> dict[str, float]:
    """`p50_ms`, `p99_ms`, … (and `max_ms`, `mean_ms`) of samples taken in seconds."""
    scale = UNITS[unit]
    figures = {f"p{q}_{unit}": round(percentile(seconds, q) * scale, 2) for q in quantiles}
    if extremes and seconds:
        figures[f"max_{unit}"] = round(max(seconds) * scale, 2)
        figures[f"mean_{unit}"] = round(statistics.fmean(seconds) * scale, 2)
    return figures
