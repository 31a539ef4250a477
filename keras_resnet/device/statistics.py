"""Timing, as pure functions: latency statistics of timed runs and interleaved timing (scoring outputs is
`keras_resnet.lite.accuracy`).

Statistics: min, p50, p90, p99 (linear interpolation between order statistics, NumPy's default), mean,
population std (ddof=0), throughput = batch / mean.
"""

from __future__ import annotations

import time

import numpy as np

PERCENTILES = (50, 90, 99)


def summarize(samples_ns, batch: int = 1) -> dict:
    """Latency statistics in milliseconds of timed runs given in nanoseconds, and throughput (images/s)."""
    ms = np.asarray(samples_ns, np.float64) / 1e6
    if ms.size == 0:
        raise ValueError("summarize needs at least one timed run")
    stats = {"min": float(ms.min())}
    stats.update({f"p{q}": float(np.percentile(ms, q)) for q in PERCENTILES})
    stats.update({"mean": float(ms.mean()), "std": float(ms.std()), "max": float(ms.max())})
    return {"latency_ms": stats, "throughput_ips": batch * 1e3 / stats["mean"]}


def time_once(fn, clock=time.perf_counter_ns) -> int:
    """Nanoseconds one call of `fn` takes on `clock`."""
    start = clock()
    fn()
    return clock() - start


def interleaved(fns, runs: int, clock=time.perf_counter_ns) -> list[list[int]]:
    """`runs` timings of each function, called round-robin (A B A B ...) so drift affects all alike."""
    samples = [[] for _ in fns]
    pairs = list(zip(fns, samples))
    for _ in range(runs):
        for fn, out in pairs:  # time_once inlined: the loop adds nothing but two clock reads per run
            start = clock()
            fn()
            out.append(clock() - start)
    return samples
