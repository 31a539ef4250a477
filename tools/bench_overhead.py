"""How much the harness adds to what it measures: its p50 against a bare `invoke()` loop, same process.

    nice -n 10 .venv/bin/python tools/bench_overhead.py .cache/bench-models/resnet8_int8.tflite

Alternates blocks of the two (harness-bare, bare-harness, ...) on one interpreter so that drift and
other load on the machine hit both alike, and reports the median over blocks of each one's p50 and the median of
the per-block ratios. The harness passes when the ratio is within 2% of 1. A small model is the hard case: the fixed
cost per run is largest relative to the inference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from keras_resnet.device import harness

TARGET = 0.02


def bare_p50_ms(invoke, runs: int) -> float:
    """p50 of the simplest loop there is: perf_counter_ns around invoke()."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        invoke()
        samples.append(time.perf_counter_ns() - start)
    return float(np.percentile(samples, 50)) / 1e6


def harness_p50_ms(variant, settings) -> float:
    """p50 as the harness measures it (cold run, warm-up, timed runs)."""
    return harness.measure([variant], settings, time.perf_counter_ns)[0]["latency_ms"]["p50"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--blocks", type=int, default=30)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    settings = harness.Settings(threads=[args.threads], warmup=10, runs=args.runs)
    variant = harness.load_variant(args.model, harness.read_model(args.model), args.threads, settings)
    invoke = variant.model.interpreter.invoke
    ours, bare = [], []
    for block in range(args.blocks):  # swap which goes first each block, so order effects cancel
        first_harness = block % 2 == 0
        if first_harness:
            ours.append(harness_p50_ms(variant, settings))
        bare.append(bare_p50_ms(invoke, args.runs))
        if not first_harness:
            ours.append(harness_p50_ms(variant, settings))
    h, b = statistics.median(ours), statistics.median(bare)
    ratio = statistics.median(x / y for x, y in zip(ours, bare))  # paired per block: drift cancels
    print(
        f"{variant.name}, {args.threads} thread(s), {args.blocks} blocks x {args.runs} runs: "
        f"harness p50 {h:.4f} ms, bare invoke() p50 {b:.4f} ms, median paired ratio {ratio:.4f} "
        f"({'within' if abs(ratio - 1) <= TARGET else 'OUTSIDE'} {TARGET:.0%})"
    )
    return 0 if abs(ratio - 1) <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
