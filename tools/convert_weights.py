"""Convert a torchvision, timm or akamaster ResNet checkpoint (.pth, .pt, .bin, .th, .safetensors) to Keras.

    .venv/bin/python tools/convert_weights.py resnet50-11ad3fa6.pth --out resnet50.weights.h5
    .venv/bin/python tools/convert_weights.py model.safetensors --out resnet18_notop.weights.h5 --no-top

Reads the checkpoint safely (`torch.load(weights_only=True)`, or safetensors' NumPy API), infers the depth
(18/34/50/101/152, or a CIFAR net's 6n+2) and the class count from its tensors (`--model` states the depth
instead), maps every tensor onto our `variant="v1.5"` model (conv kernels OIHW -> HWIO, the Linear classifier
transposed, BatchNorm weight/bias/running_mean/running_var -> gamma/beta/moving_mean/moving_variance; a CIFAR
net's option-A shortcuts placed as akamaster's), prints each mapping with both shapes, and writes the Keras `.weights.h5` atomically. Load it with
`ResNet50(weights="resnet50.weights.h5")`, or `ResNet18(include_top=False, weights=...)` after `--no-top`.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_resnet.errors import UserError, cli_errors  # noqa: E402


def format_report(report, skipped: list[str]) -> str:
    """One line per tensor: checkpoint name and shape -> our weight and shape; then what was skipped."""
    width = max(len(m.source) for m in report)
    lines = [f"{m.source:<{width}} {str(m.source_shape):<18} -> {m.target} {m.shape}" for m in report]
    if skipped:
        lines.append(f"skipped {len(skipped)} tensor(s): {', '.join(sorted(skipped))}")
    return "\n".join(lines)


def convert(checkpoint: str, out: str, model_name: str | None = None, include_top: bool = True) -> str:
    """Write `out` from `checkpoint`; returns the report. The checkpoint is read before TensorFlow starts."""
    from keras_resnet.models import weights

    if not out.endswith(".weights.h5"):
        raise UserError(f"The output must end in .weights.h5 (Keras' weights format). Received: --out {out}")
    tensors = weights.read_checkpoint(checkpoint)
    inferred, classes = weights.checkpoint_architecture(tensors)
    if include_top and classes is None:
        raise UserError(f"{checkpoint} has no classifier (fc): convert it with --no-top. Received: {checkpoint}")
    from keras_resnet.files import atomic_path, check_writable
    from keras_resnet.models.builders import create_model

    check_writable(out)
    model = create_model(model_name or inferred, include_top=include_top, classes=classes or 1000)
    report, skipped = weights.apply_checkpoint(model, tensors, checkpoint)
    with atomic_path(out, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    summary = (f"{checkpoint}: {model.name}, {len(report)} tensors mapped, "
               f"{'classes ' + str(classes) if include_top else 'no top'} -> {out}")
    return format_report(report, skipped) + "\n" + summary


@cli_errors
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="torchvision/timm/akamaster state dict: .pth, .pt, .bin, .th or .safetensors")
    parser.add_argument("--out", required=True, help="Keras weights file to write (.weights.h5)")
    parser.add_argument("--model", help="resnet18|34|50|101|152|20|32|... (default: inferred from the tensors)")
    parser.add_argument("--no-top", action="store_true", help="leave out the classifier (include_top=False)")
    args = parser.parse_args(argv)
    print(convert(args.checkpoint, args.out, args.model, include_top=not args.no_top))


if __name__ == "__main__":
    main()
