"""The CIFAR-10 models for microcontrollers, made and measured in one resumable run: each candidate trained
(with and without distillation), channel-pruned where it says so, converted to int8 (normalisation folded,
strings stripped), built as firmware and counted on the emulated Cortex-M4 (CMSIS-NN) and Cortex-M55 (Helium),
with its float32 model on the Cortex-M4's FPU as the baseline. Prints the table and writes it, with a plot of
accuracy against instructions per inference (the Pareto front), into the results pages.

    .venv/bin/python tools/mcu_models.py --data folder:cifar10-jpg --runs runs/mcu \\
        --teacher runs/r20kd/best.keras [--epochs 30] [--only mlperf-resnet8,resnet8] [--write-docs]

MLPerf Tiny's image-classification model is a ResNet-8 with three stacks of 16/32/64 filters, one basic block
each, and 1x1 projection shortcuts where the shape changes: this package's ResNet-8 with shortcut B (its
projections carry a BatchNorm, which int8 conversion folds into them). Every candidate is built in the "v1"
variant, as that model's Keras script builds it: a strided convolution pads the Keras way ("same") rather than
symmetrically, as PyTorch does. Symmetric padding is there to take PyTorch weights; a model trained here needs
none, and Keras' padding needs no PAD operator and no padded copy of the activations. MLPerf's architecture is
trained here by the same recipe on the same data as every other candidate, so the table compares models, not
training. Every step keeps its result in `--runs` (a training run dir per candidate, `deploy.json` once it is
measured): a stopped run continues where it stopped, and a finished step is not repeated.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass

from firmware_speed import FLOAT_KERNELS, FLOAT_TARGET, measure

VARIANT = "v1"  # Keras' padding for strided convolutions, as MLPerf Tiny's script has it (above)
RECIPE = dict(schedule="onecycle", lr=0.2, nesterov=True, weight_decay=5e-4)  # the cifar recipe as train_cifar10.sh
FIRMWARE = (("cortex-m4", "cmsis_nn"), ("cortex-m55", "cmsis_nn"))
# MLPerf Tiny's published int8 ResNet-8 (its image-classification reference model), built by this package's
# `firmware` for the Cortex-M4 with CMSIS-NN and counted in QEMU: the whole firmware's bytes and its
# instructions per inference, the figures a candidate has to come in under.
MLPERF_PUBLISHED = {"flash_bytes": 153_692, "ram_bytes": 57_116, "instructions": 29_800_000}
RESULTS = "docs/results/mcu-models.md"
MODELS = "tflite/mcu-models"
PLOT = "docs/img/mcu_pareto.png"


@dataclass(frozen=True)
class Candidate:
    """A model to make: a CIFAR ResNet of `depth` (6n+2), `shortcut` and `width` (the builder's channel
    multiplier: narrower stages, the first of which sets the peak RAM), trained by the recipe (distilled from
    the teacher with `distill`), or, with `prune`, the trained undistilled `base` with those per-stage channel
    ratios removed and fine-tuned (by distillation with `distill`, the one lever its twin lacks)."""

    name: str
    depth: int
    shortcut: str = "A"
    distill: bool = False
    prune: tuple[float, float, float] | None = None
    base: str | None = None
    width: float = 1.0


CANDIDATES = [
    c
    for plain in (
        Candidate("mlperf-resnet8", 8, "B"),
        Candidate("resnet8", 8),
        Candidate("resnet8-w75", 8, width=0.75),
        Candidate("resnet8-p50", 8, prune=(0.5, 0.5, 0.5), base="resnet8"),
        Candidate("resnet14", 14),
        Candidate("resnet20", 20),
        Candidate("resnet20-p50", 20, prune=(0.5, 0.5, 0.5), base="resnet20"),
        Candidate("resnet14-narrow", 14, prune=(0.75, 0.5, 0.25), base="resnet14"),
    )
    for c in (
        plain,
        Candidate(f"{plain.name}-kd", plain.depth, plain.shortcut, True, plain.prune, plain.base, plain.width),
    )
]


def train(candidate: Candidate, args) -> str:
    """The candidate's trained Keras file, trained now (or on from where a stopped run was) unless it is."""
    import keras_resnet as kr

    run = os.path.join(args.runs, candidate.name)
    teacher = {"teacher": args.teacher} if candidate.distill else {}
    if candidate.prune:
        out = os.path.join(run, "pruned.keras")
        if not os.path.exists(out):
            os.makedirs(run, exist_ok=True)
            base = train(next(c for c in CANDIDATES if c.name == candidate.base), args)
            kr.prune(
                base,
                out,
                channels=candidate.prune,
                data=args.data,
                epochs=max(1, args.epochs // 3),
                run_dir=os.path.join(run, "fine-tuning"),
                resume=os.path.exists(os.path.join(run, "fine-tuning", "config.json")),
                **teacher,
            )
        return out
    if not os.path.exists(os.path.join(run, "metrics.json")):
        start = os.path.join(args.runs, f"{candidate.name}.init.keras")
        if not os.path.exists(start):
            from keras_resnet.models.saving import save_model

            os.makedirs(args.runs, exist_ok=True)
            save_model(
                kr.ResNetCIFAR(
                    candidate.depth,
                    shortcut=candidate.shortcut,
                    variant=VARIANT,
                    width=candidate.width,
                    preprocess="cifar10",
                    name=candidate.name,
                ),
                start,
            )
        resume = os.path.exists(os.path.join(run, "config.json"))
        kr.fit(start, args.data, run, "cifar", resume=resume, epochs=args.epochs, **RECIPE, **teacher)
    return os.path.join(run, "last.keras")


def deploy(candidate: Candidate, model: str, args) -> dict:
    """Convert, evaluate and build the candidate's firmware; kept in deploy.json once measured."""
    import keras_resnet as kr

    run = os.path.join(args.runs, candidate.name)
    record = os.path.join(run, "deploy.json")
    if os.path.exists(record):
        with open(record) as f:
            return json.load(f)
    int8 = kr.convert(model, os.path.join(run, "int8.tflite"), mode="int8", calib=args.data, fold=True, strip=True)
    float32 = kr.convert(model, os.path.join(run, "float32.tflite"), strip=True)
    result = {
        "name": candidate.name,
        "distilled": candidate.distill,
        "pruned": candidate.prune,
        "params": _params(model),
        "float_top1": kr.evaluate(float32["out"], args.data)["top1"],
        "int8_top1": kr.evaluate(int8["out"], args.data)["top1"],
        "firmware": {
            f"{target}/{kernels}": measure(int8["out"], target, kernels, args.tflm, run) for target, kernels in FIRMWARE
        },
        "float32_firmware": measure(float32["out"], FLOAT_TARGET, FLOAT_KERNELS, args.tflm, run),
    }
    m4, baseline = result["firmware"]["cortex-m4/cmsis_nn"], result["float32_firmware"]
    if m4.get("instructions") and baseline.get("instructions"):
        result["speed_up_over_float32"] = round(baseline["instructions"] / m4["instructions"], 2)
    from keras_resnet.files import write_json

    write_json(record, result)
    return result


def training_seconds(candidate: Candidate, args) -> float | None:
    """Seconds the candidate's own training took on this machine (for a pruned one: its fine-tuning)."""
    run = os.path.join(args.runs, candidate.name, "fine-tuning" if candidate.prune else "")
    try:
        with open(os.path.join(run, "metrics.json")) as f:
            return json.load(f).get("train_seconds")
    except FileNotFoundError:
        return None


def _params(model: str) -> int:
    from keras_resnet.models.saving import load_keras_model

    return load_keras_model(model).count_params()


def pareto(rows: list[dict]) -> list[str]:
    """The names of the rows no other row beats on both int8 top-1 and Cortex-M4 instructions."""
    measured = [r for r in rows if _m4(r)]
    return [
        r["name"]
        for r in measured
        if not any(
            o is not r
            and o["int8_top1"] >= r["int8_top1"]
            and _m4(o) <= _m4(r)
            and (o["int8_top1"], _m4(o)) != (r["int8_top1"], _m4(r))
            for o in measured
        )
    ]


def _m4(row: dict) -> int | None:
    return row["firmware"]["cortex-m4/cmsis_nn"].get("instructions")


def beats_mlperf(rows: list[dict]) -> list[str]:
    """The candidates under MLPerf Tiny's published ResNet-8 in whole-firmware flash, RAM and instructions per
    inference on the Cortex-M4, at an int8 top-1 at least that of its architecture trained here
    (`mlperf-resnet8`); none without that row."""
    reference = next((r for r in rows if r["name"] == "mlperf-resnet8"), None)
    if reference is None:
        return []

    def under(m4: dict) -> bool:
        return all(m4.get(key) is not None and m4[key] < limit for key, limit in MLPERF_PUBLISHED.items())

    return [
        r["name"]
        for r in rows
        if r["int8_top1"] >= reference["int8_top1"] and under(r["firmware"]["cortex-m4/cmsis_nn"])
    ]


def levers(rows: list[dict]) -> str:
    """One lever at a time, in Markdown: each distilled candidate against its twin trained without a teacher,
    and each pruned one against the model it was pruned from: parameters and MACs kept, and what instructions,
    whole-firmware bytes on the Cortex-M4 and int8 top-1 become, and the int8 model's speed-up over the float32
    model it came from (for pruning: pruning and quantization together, the classic figure)."""
    by_name = {r["name"]: r for r in rows}
    base = {c.name: c.base for c in CANDIDATES}
    pairs = [("distillation", r["name"].removesuffix("-kd"), r) for r in rows if r["distilled"]]
    pairs += [("pruning", base[r["name"]], r) for r in rows if base.get(r["name"]) and not r["distilled"]]
    lines = [
        "| lever | from | to | params kept | MACs kept | instructions M4 | flash (M4) | RAM (M4) | int8 top-1 | "
        "int8 vs from's float32 (M4) |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for lever, name, after in pairs:
        before = by_name.get(name)
        if not (before and _m4(before) and _m4(after)):
            continue
        b, a = before["firmware"]["cortex-m4/cmsis_nn"], after["firmware"]["cortex-m4/cmsis_nn"]
        lines.append(
            f"| {lever} | {name} | {after['name']} | {after['params'] / before['params']:.0%} | "
            f"{a['macs'] / b['macs']:.0%} | {a['instructions'] / b['instructions']:.2f}x | "
            f"{a['flash_bytes'] - b['flash_bytes']:+,} B | {a['ram_bytes'] - b['ram_bytes']:+,} B | "
            f"{100 * (after['int8_top1'] - before['int8_top1']):+.2f} points | "
            f"{_speed_up(before['float32_firmware'], a)} |"
        )
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    """Every candidate in Markdown: parameters, MACs, whole-firmware flash and RAM on the Cortex-M4, instructions
    per inference on the M4 and M55, float32 and int8 top-1, and int8's speed-up over float32 on the M4."""
    front = set(pareto(rows))
    lines = [
        "| model | params | MACs | flash (M4) | RAM (M4) | instructions M4 | instructions M55 | float32 top-1 | "
        "int8 top-1 | vs float32 (M4) | training |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        m4, m55 = r["firmware"]["cortex-m4/cmsis_nn"], r["firmware"]["cortex-m55/cmsis_nn"]
        name = f"**{r['name']}**" if r["name"] in front else r["name"]
        lines.append(
            f"| {name} | {r['params']:,} | {_millions(m4.get('macs'))} | {_bytes(m4.get('flash_bytes'))} | "
            f"{_bytes(m4.get('ram_bytes'))} | {_millions(m4.get('instructions'))} | "
            f"{_millions(m55.get('instructions'))} | {r['float_top1']:.2%} | {r['int8_top1']:.2%} | "
            f"{r.get('speed_up_over_float32', '')}{'x' if 'speed_up_over_float32' in r else ''} | "
            f"{_minutes(r.get('train_seconds'))} |"
        )
    return "\n".join(lines)


def _speed_up(baseline: dict, firmware: dict) -> str:
    """How many times fewer instructions `firmware` executes than the float32 `baseline`."""
    if not (baseline.get("instructions") and firmware.get("instructions")):
        return "-"
    return f"{baseline['instructions'] / firmware['instructions']:.2f}x"


def _millions(value) -> str:
    return f"{value / 1e6:.2f} M" if value else "-"


def _bytes(value) -> str:
    return f"{value:,} B" if value else "-"


def _minutes(seconds) -> str:
    return f"{seconds / 60:.0f} min" if seconds else "-"


def plot(rows: list[dict], path: str) -> None:
    """int8 top-1 against Cortex-M4 instructions per inference, the Pareto front joined, and the instructions of
    MLPerf Tiny's published ResNet-8 as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if _m4(r)]
    front = sorted((r for r in measured if r["name"] in pareto(rows)), key=_m4)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in measured:
        ax.scatter(_m4(r) / 1e6, 100 * r["int8_top1"], marker="o" if r["distilled"] else "s", color="C0")
        ax.annotate(
            r["name"], (_m4(r) / 1e6, 100 * r["int8_top1"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.plot([_m4(r) / 1e6 for r in front], [100 * r["int8_top1"] for r in front], color="C1", label="Pareto front")
    ax.axvline(MLPERF_PUBLISHED["instructions"] / 1e6, color="C2", linestyle="--", label="MLPerf Tiny's ResNet-8")
    ax.scatter([], [], marker="o", color="C0", label="distilled")
    ax.scatter([], [], marker="s", color="C0", label="labels only")
    ax.ticklabel_format(useOffset=False)
    ax.set_xlabel("instructions per inference, Cortex-M4 with CMSIS-NN (millions, QEMU)")
    ax.set_ylabel("int8 top-1 on CIFAR-10 (JPEG), %")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 data SOURCE (train and test splits)")
    parser.add_argument("--runs", required=True, help="folder of the candidates' runs (resumed when present)")
    parser.add_argument("--teacher", help="trained .keras teacher for the -kd candidates (skipped without)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (pruned: a third, to fine-tune)")
    parser.add_argument("--only", help="comma-separated candidate names (default: all)")
    parser.add_argument("--tflm", help="TFLite-Micro tree (default $TFLM_DIR)")
    parser.add_argument("--write-docs", action="store_true", help=f"write {RESULTS} and {PLOT}")
    args = parser.parse_args(argv)
    chosen = [c for c in CANDIDATES if not args.only or c.name in args.only.split(",")]
    rows = []
    for candidate in chosen:
        if candidate.distill and not args.teacher:
            print(f"{candidate.name}: skipped (no --teacher)", file=sys.stderr)
            continue
        rows.append(
            {**deploy(candidate, train(candidate, args), args), "train_seconds": training_seconds(candidate, args)}
        )
        print(json.dumps({k: rows[-1][k] for k in ("name", "int8_top1")}), file=sys.stderr, flush=True)
    print(table(rows))
    if args.write_docs:
        plot(rows, PLOT)
        with open(RESULTS, "w") as f:
            f.write(_page(rows, " ".join(sys.argv)))
        keep_front(rows, args.runs)
    return 0


def keep_front(rows: list[dict], runs: str) -> None:
    """Copy the models on the Pareto front into MODELS, in place of those it held: the trained Keras file, its
    int8 firmware model, the training config and history, and what was measured."""
    os.makedirs(MODELS, exist_ok=True)
    for stale in os.listdir(MODELS):
        if stale != "README.md":
            os.remove(os.path.join(MODELS, stale))
    for name in pareto(rows):
        run = os.path.join(runs, name)
        trained = os.path.join(
            run, "pruned.keras" if os.path.exists(os.path.join(run, "pruned.keras")) else "last.keras"
        )
        training = os.path.join(run, "fine-tuning") if trained.endswith("pruned.keras") else run
        for source, kept in (
            (trained, ".keras"),
            (os.path.join(run, "int8.tflite"), "_int8.tflite"),
            (os.path.join(training, "config.json"), ".config.json"),
            (os.path.join(training, "history.csv"), ".history.csv"),
            (os.path.join(run, "deploy.json"), ".deploy.json"),
        ):
            shutil.copyfile(source, os.path.join(MODELS, name + kept))


def _bit_exactness(rows: list[dict]) -> str:
    """Whether every int8 firmware's outputs equal the host TFLite-Micro's, the inputs they were counted on."""
    runs = [(r["name"], key, fw) for r in rows for key, fw in r["firmware"].items() if fw.get("images")]
    differing = [f"{name} on {key}" for name, key, fw in runs if fw.get("bit_exact_images") != fw["images"]]
    if differing:
        return f"Outputs that differ from TFLite-Micro on the host: {', '.join(differing)}."
    return f"All {len(runs)} int8 firmwares give outputs bit-exact with TFLite-Micro on the host for their inputs."


def _page(rows: list[dict], command: str) -> str:
    from keras_resnet.device.sysinfo import cpu

    machine = cpu()
    published = MLPERF_PUBLISHED
    winners = beats_mlperf(rows)
    return (
        "# Models for microcontrollers\n\n"
        f"Written by `{command}` on {machine['model']} ({machine['cores']} cores). CIFAR-10 (JPEG), all 10,000 "
        "test images, top-1 in LiteRT; instructions are executed instructions per inference in QEMU (`-icount`), "
        "not cycles; flash and RAM are the whole firmware's. Int8 models have the normalisation folded and the "
        "strings stripped; the float32 baseline runs on the Cortex-M4's FPU (reference kernels). Training is the "
        "candidate's own, on this machine (a pruned one's fine-tuning). Bold: on the Pareto front of int8 top-1 "
        "against Cortex-M4 instructions.\n\n"
        f"{table(rows)}\n\n![accuracy against instructions](../img/mcu_pareto.png)\n\n"
        f"{_bit_exactness(rows)}\n\n"
        "## Against MLPerf Tiny's ResNet-8\n\n"
        f"MLPerf Tiny's published int8 ResNet-8, built by `firmware` for the Cortex-M4 with CMSIS-NN: "
        f"{published['flash_bytes']:,} B of flash, {published['ram_bytes']:,} B of RAM, "
        f"{published['instructions'] / 1e6:.1f} M instructions per inference. Under all three, at an int8 top-1 "
        "at least that of its architecture trained here (`mlperf-resnet8`): "
        f"{', '.join(f'**{name}**' for name in winners) or 'none yet'}.\n\n"
        "## One lever at a time\n\n"
        f"{levers(rows)}\n"
    )


if __name__ == "__main__":
    sys.exit(main())
