"""The timing loop the benchmarks share: warm the call up, then time it run by run, and print a
median and 95th percentile with the ratio to a baseline measured in the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(call: Callable[[], object], runs: int, warm: int = 5) -> list[float]:
    """Milliseconds of each of ``runs`` calls, after ``warm`` untimed ones (caches, connections)."""
    for _ in range(warm):
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def describe(name: str, samples: list[float], baseline: float | None, width: int = 28) -> str:
    """One line: median and p95 in ms, and the median's ratio to ``baseline`` when there is one."""
    median = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18] if len(samples) > 1 else median
    ratio = f"  x{median / baseline:.2f} baseline" if baseline else ""
    return f"{name:<{width}} median {median:7.2f} ms   p95 {p95:7.2f} ms{ratio}"
