"""The pruning table: accuracy, parameters, MACs and LiteRT latency of ResNets before and after channel pruning.

    .venv/bin/python tools/prune_table.py --reference tflite/reference/resnet20_cifar10_jpg.keras \\
        --pruned tflite/reference/resnet20_cifar10_jpg_pruned.keras --json tflite/reference/pruning_resnet20.json
    .venv/bin/python tools/prune_table.py --imagenet-models resnet18,resnet50 \\
        --json tflite/reference/pruning_imagenet.json

`--pruned` is the fine-tuned ResNet-20 made by `resnet-tflite prune` (the command is on the documentation's
results page, docs/results/pruning.md). ResNet-18 and ResNet-50 (224x224) are built here with random weights,
since latency does not depend on them, and pruned with `--channels` 0.5 (`--imagenet-ratio`) without fine-tuning; their
accuracy cells stay empty. For each model the script checks that the pruned model's MACs equal the width
arithmetic (`keras_resnet.prune.macs_after`), converts both models to float32 and int8 TFLite (int8
calibrated on CIFAR-10 (JPEG) training images, upsampled for the 224x224 models), and times all four
variants of a model interleaved (A B C D A B ...) in the benchmark harness: LiteRT, XNNPACK, 1 thread. The
ResNet-20 variants are also evaluated on the whole CIFAR-10 (JPEG) test split (10,000 images), and the
reference is pruned once more by each criterion to compare their top-1 before any fine-tuning.

Prints a Markdown table; writes the rows, the settings and the system record to `--json`.
Speed-ups are against the unpruned float32 model, as in the classic pruning tables; the last column
compares with the unpruned model at the same precision.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench_models import ROOT, calibration, cifar_folder

CACHE = ROOT / ".cache" / "prune-table"
MODES = ("float32", "int8")


def imagenet_pair(name: str, ratio: float):
    """A registered 224x224 model with random weights and its pruned (not fine-tuned) copy."""
    from keras_resnet import create_model
    from keras_resnet.models import channel_pruning

    model = create_model(name, preprocess="imagenet")
    return model, channel_pruning.prune(model, (ratio,)).model


def counts(original, pruned) -> dict:
    """Parameters and MACs of both models, after checking the pruned MACs against the width arithmetic."""
    from keras_resnet.models import channel_pruning
    from keras_resnet.models.profiler import profile

    before, after = profile(original), profile(pruned)
    predicted = channel_pruning.macs_after(
        original, channel_pruning.describe(original), channel_pruning.describe(pruned).spec.inner_widths
    )
    if predicted != after["macs"]:
        raise SystemExit(f"{pruned.name}: {after['macs']:,} MACs counted, {predicted:,} by the width arithmetic")
    return {"before": before, "after": after}


def convert_pair(label: str, models, folder: str, samples: int) -> list[str]:
    """float32 and int8 .tflite files of (original, pruned), in the order timed: each model in both modes."""
    from keras_resnet.export.convert import convert_keras, representative_from

    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, model in zip(("", "_pruned"), models):
        size = model.input_shape[1]
        for mode in MODES:
            rep = representative_from(calibration(folder, size, samples)) if mode == "int8" else None
            path = CACHE / f"{label}{suffix}_{mode}.tflite"
            path.write_bytes(convert_keras(model, mode, representative=rep))
            paths.append(str(path))
            print(f"converted {path.name}", flush=True)
    return paths


def table_rows(label: str, numbers: dict, result: dict) -> list[dict]:
    """One row per (model, precision) from the harness result (rows in convert_pair's order)."""
    rows, p50 = [], [r["latency_ms"]["p50"] for r in result["results"]]
    for i, r in enumerate(result["results"]):
        pruned, mode = i >= 2, MODES[i % 2]
        stats = numbers["after" if pruned else "before"]
        accuracy = r["accuracy"] or {}
        rows.append(
            {
                "model": label + (" pruned" if pruned else ""),
                "precision": mode,
                "top1": accuracy.get("top1"),
                "top5": accuracy.get("top5"),
                "images": accuracy.get("images"),
                "params": stats["trainable_params"],
                "params_pruned": 1 - stats["trainable_params"] / numbers["before"]["trainable_params"],
                "macs": stats["macs"],
                "macs_kept": stats["macs"] / numbers["before"]["macs"],
                "p50_ms": p50[i],
                "size_bytes": r["size_bytes"],
                "speedup_vs_unpruned_float32": p50[0] / p50[i],
                "latency_vs_unpruned_same_precision": p50[i] / p50[i % 2],
            }
        )
    return rows


def criteria_before_fine_tuning(model, ratio: float, folder: str) -> dict:
    """Top-1 on the CIFAR-10 (JPEG) test split right after pruning `model`, by each criterion: which
    filters a criterion keeps matters most before any fine-tuning repairs the damage."""
    import numpy as np

    from keras_resnet import sources
    from keras_resnet.models import channel_pruning

    test = sources.load(f"folder:{folder}", "test")
    result = {}
    for criterion in channel_pruning.CRITERIA:
        pruned = channel_pruning.prune(model, (ratio,), criterion=criterion).model
        outputs = pruned.predict(test.x.astype(np.float32), batch_size=500, verbose=0)
        result[criterion] = float(np.mean(outputs.argmax(1) == test.y))
    return result


def markdown(rows: list[dict]) -> str:
    def pct(v):
        return "-" if v is None else f"{100 * v:.2f}"

    lines = [
        "| model | precision | top-1 % | top-5 % | params | params pruned | MACs | MACs kept | p50 ms "
        "| speed-up vs unpruned float32 | latency vs unpruned, same precision |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['precision']} | {pct(r['top1'])} | {pct(r['top5'])} | "
            f"{r['params'] / 1e6:.3f}M | {100 * r['params_pruned']:.1f}% | {r['macs'] / 1e6:.1f}M | "
            f"{100 * r['macs_kept']:.1f}% | {r['p50_ms']:.3f} | "
            f"{r['speedup_vs_unpruned_float32']:.2f}x | "
            f"{r['latency_vs_unpruned_same_precision']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    from keras_resnet.device import command, harness
    from keras_resnet.files import write_text
    from keras_resnet.models.saving import load_keras_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", help="the trained, unpruned ResNet-20 (.keras)")
    parser.add_argument("--pruned", help="its pruned, fine-tuned copy (.keras)")
    parser.add_argument("--json", required=True, help="where the results go")
    parser.add_argument(
        "--cifar-ratio",
        type=float,
        default=0.5,
        help="--channels of --pruned, for the criteria comparison before fine-tuning",
    )
    parser.add_argument("--imagenet-ratio", type=float, default=0.5, help="--channels for ResNet-18/50")
    parser.add_argument("--imagenet-models", default="", help="registered 224x224 models, e.g. resnet18,resnet50")
    parser.add_argument("--cifar-runs", type=int, default=300)
    parser.add_argument("--imagenet-runs", type=int, default=20)
    parser.add_argument("--calib-samples", type=int, default=200)
    args = parser.parse_args(argv)

    if bool(args.reference) != bool(args.pruned):
        parser.error("--reference and --pruned go together")
    if not (args.pruned or args.imagenet_models):
        parser.error("nothing to measure: give --reference and --pruned, or --imagenet-models")
    folder = cifar_folder()
    pairs = []
    if args.pruned:
        pairs.append(("ResNet-20", (load_keras_model(args.reference), load_keras_model(args.pruned))))
    pairs += [
        (f"ResNet-{name[6:]}", imagenet_pair(name, args.imagenet_ratio))
        for name in filter(None, args.imagenet_models.split(","))
    ]
    rows, runs = [], []
    for label, models in pairs:
        numbers = counts(*models)
        cifar = models[0].input_shape[1] == 32
        samples = args.calib_samples if cifar else args.calib_samples // 4
        paths = convert_pair(label.lower(), models, folder, samples)
        if cifar:
            settings = harness.Settings(
                threads=[1], warmup=20, runs=args.cifar_runs, data=f"folder:{folder}", limit=None
            )
        else:
            settings = harness.Settings(threads=[1], warmup=3, runs=args.imagenet_runs)
        result = harness.run(paths, settings, argv=sys.argv)
        print(command.format_table(result), flush=True)
        rows += table_rows(label, numbers, result)
        runs.append({"settings": result["settings"], "warnings": result["warnings"]})
    text = markdown(rows)
    print(text)
    document = {
        "command": "python tools/prune_table.py " + " ".join(argv or sys.argv[1:]),
        "rows": rows,
        "runs": runs,
        "system": result["system"],
        "markdown": text,
    }
    if args.pruned:
        criteria = criteria_before_fine_tuning(pairs[0][1][0], args.cifar_ratio, folder)
        print(
            f"ResNet-20, --channels {args.cifar_ratio:g}, top-1 right after pruning (no fine-tuning): "
            + ", ".join(f"{k} {100 * v:.2f}%" for k, v in criteria.items())
        )
        document["top1_before_fine_tuning"] = {"model": "ResNet-20", "ratio": args.cifar_ratio, **criteria}
    write_text(args.json, json.dumps(document, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
