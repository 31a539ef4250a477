"""Timing and scoring, as pure functions: latency statistics of timed runs, interleaved timing, top-k accuracy.

Statistics: min, p50, p90, p99 (linear interpolation between order statistics, NumPy's default), mean,
population std (ddof=0), throughput = batch / mean. Top-k sorts stably, so that tied scores rank alike on
every machine and in every command (`eval`, `convert --verify` and `bench` score with this one function).
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



def topk(outputs: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 and top-5 accuracy (top-5 is None below 5 classes).

    The sort is stable, so classes an int8 model scores exactly alike rank by class index on every machine
    (NumPy's default sort orders ties differently on x86 and ARM).
    """
    order = np.argsort(-outputs, axis=1, kind="stable")
    top5 = float(np.mean(np.any(order[:, :5] == labels[:, None], axis=1))) if outputs.shape[1] >= 5 else None
    return {"images": int(len(labels)), "top1": float(np.mean(order[:, 0] == labels)), "top5": top5}

