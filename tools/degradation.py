"""Figure 6 of the paper at a small scale: deeper plain nets train worse, deeper residual nets train better.

    .venv/bin/python tools/degradation.py                          # 5,000 images, 20 epochs: ~30 min, 2 cores
    .venv/bin/python tools/degradation.py --images 2000 --epochs 5 --out runs/degradation-quick

Trains plain-20, plain-56, ResNet-20 and ResNet-56 on one recipe (SGD 0.9, weight decay 1e-4, batch 128, peak
lr 0.1) on a class-balanced subset of CIFAR-10 (JPEG) from ../shared, and plots training error (thin) and test
error (bold) per epoch for the plain nets and the residual nets side by side, as the paper's Figure 6 does.
The degradation problem is an *optimisation* problem, so it shows in the training error: plain-56 ends above
plain-20, ResNet-56 below ResNet-20.

Each net is an ordinary `resnet-tflite train` run directory under --out (killed runs resume); the plot goes to
docs/img/degradation.png and the final errors to <out>/summary.json.

Why not the paper's schedule as it is: its 64k iterations become ~800 here, and the step from lr 0.01 to 0.1
is what breaks the 56-layer nets at this budget. At lr 0.1 from the first step (`--schedule step
--warmup-epochs 0 --epochs 30`) both stayed at chance for all 30 epochs, ResNet-56 after a first-epoch loss
of 4.1 (chance is 2.3); with the paper's ResNet-110 warm-up (`--schedule step --warmup-epochs 3`: lr 0.01 for
3 epochs, then 0.1) ResNet-56 fell back to chance at the jump and ended at 71% training error, above
ResNet-20's 35%. So by default the lr rises linearly from 0.01 to 0.1 over --warmup-epochs and then follows a
cosine to zero, for all four nets. (Every variant writes the same plot; give each its own --out.)
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from bench_models import cifar_folder  # noqa: E402  (the extracted CIFAR-10 (JPEG) tree)

MODELS = ("plain20", "plain56", "resnet20", "resnet56")
BATCH = 128
PLOT = ROOT / "docs" / "img" / "degradation.png"


def subset_npz(path: pathlib.Path, images: int, test_images: int) -> str:
    """A class-balanced training subset and test subset of CIFAR-10 (JPEG) as an npz source."""
    from keras_resnet import sources
    from keras_resnet.files import atomic_path

    if not path.exists():
        folder = f"folder:{cifar_folder()}"
        train, test = sources.load(folder, "train", limit=images), sources.load(folder, "test", limit=test_images)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(
                tmp, x_train=train.x, y_train=train.y, x_test=test.x, y_test=test.y, classes=np.array(train.classes)
            )
    return f"npz:{path}"


def train_all(data: str, out: pathlib.Path, epochs: int, warmup_steps: int, schedule: str) -> dict[str, list[dict]]:
    """Train each model (resuming an interrupted run, skipping a finished one); its per-epoch history."""
    from keras_resnet.training import fit

    histories = {}
    for name in MODELS:
        run = out / name
        if not (run / "metrics.json").exists():
            fit.fit(
                name,
                data,
                str(run),
                "cifar",
                resume=(run / "config.json").exists(),
                epochs=epochs,
                schedule=schedule,
                boundaries=(0.5, 0.75),
                lr=0.1,
                weight_decay=1e-4,
                batch_size=BATCH,
                warmup_steps=warmup_steps,
                warmup_lr=0.01,
            )
        with open(run / "history.csv") as f:
            histories[name] = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    return histories


def plot(histories: dict[str, list[dict]], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    colours = {"20": "tab:orange", "56": "tab:red"}
    for ax, family in zip(axes, ("plain", "resnet")):
        for name, history in histories.items():
            if not name.startswith(family):
                continue
            depth = name[len(family) :]
            epochs = [row["epoch"] for row in history]
            label = f"{'plain' if family == 'plain' else 'ResNet'}-{depth}"
            ax.plot(
                epochs,
                [100 * (1 - row["accuracy"]) for row in history],
                color=colours[depth],
                lw=0.9,
                label=f"{label} train",
            )
            ax.plot(
                epochs,
                [100 * (1 - row["val_accuracy"]) for row in history],
                color=colours[depth],
                lw=2.4,
                label=f"{label} test",
            )
        ax.set_title("plain networks" if family == "plain" else "residual networks")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("error (%)")
    fig.suptitle("CIFAR-10 (JPEG) subset: thin = training error, bold = test error (cf. He et al. 2016, Fig. 6)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="training images, class-balanced")
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--warmup-epochs", type=int, default=5, help="epochs of the lr ramp from 0.01 to 0.1")
    parser.add_argument(
        "--schedule",
        choices=("cosine", "step"),
        default="cosine",
        help="step: the paper's (constant warm-up lr, /10 at 50%% and 75%%)",
    )
    parser.add_argument("--out", default="runs/degradation")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = subset_npz(out / f"cifar10-jpg-{args.images}.npz", args.images, args.test_images)
    histories = train_all(data, out, args.epochs, args.warmup_epochs * (args.images // BATCH), args.schedule)
    plot(histories, PLOT)
    summary = {
        name: {
            "train_error": round(1 - h[-1]["accuracy"], 4),
            "test_error": round(1 - h[-1]["val_accuracy"], 4),
            "epochs": len(h),
        }
        for name, h in histories.items()
    }
    summary["setup"] = {
        "images": args.images,
        "test_images": args.test_images,
        "epochs": args.epochs,
        "warmup_epochs": args.warmup_epochs,
        "schedule": args.schedule,
        "command": " ".join(sys.argv),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{'model':<10}{'train error':>12}{'test error':>12}")
    for name in MODELS:
        print(f"{name:<10}{summary[name]['train_error']:>12.2%}{summary[name]['test_error']:>12.2%}")
    print(f"plot: {PLOT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
