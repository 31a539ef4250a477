"""A torchvision, timm or akamaster ResNet checkpoint (.pth, .pt, .bin, .th, .safetensors) as a Keras weights file.

The checkpoint is read safely (`torch.load(weights_only=True)`, or safetensors' NumPy API) before TensorFlow
starts; its depth (18/34/50/101/152, or a CIFAR net's 6n+2) and class count are inferred from its tensors
(`model` states the depth instead); every tensor is mapped onto our `variant="v1.5"` model (conv kernels
OIHW -> HWIO, the Linear classifier transposed, BatchNorm weight/bias/running_mean/running_var ->
gamma/beta/moving_mean/moving_variance; a CIFAR net's option-A shortcuts placed as akamaster's), and the
Keras `.weights.h5` is written atomically. Load it with `ResNet50(weights="resnet50.weights.h5")`, or
`ResNet18(include_top=False, weights=...)` for a file converted with `include_top=False`.
`resnet-tflite weights convert CHECKPOINT --out FILE` runs it and prints the report.
"""

from __future__ import annotations

import os

from keras_resnet.errors import UserError

__all__ = ["convert_weights", "format_conversion"]

SUFFIX = ".weights.h5"


def convert_weights(
    checkpoint: str | os.PathLike, out: str | os.PathLike, model: str | None = None, include_top: bool = True
) -> dict:
    """Write the Keras weights file `out` from a PyTorch or safetensors ResNet checkpoint.

    Args:
        checkpoint: A torchvision/timm/akamaster state dict: .pth, .pt, .bin, .th or .safetensors.
        out: The Keras weights file to write; it must end in `.weights.h5`.
        model: The registered model to build (`resnet50`, `resnet20`, ...); None infers it from the tensors.
        include_top: Keep the classifier; False leaves it out (a checkpoint without one needs False).

    Returns:
        `{"checkpoint", "out", "model", "classes" (None without the classifier), "include_top", "tensors"
        (one `{"source", "source_shape", "target", "shape"}` per tensor mapped, in the model's order),
        "skipped" (checkpoint tensors with no place in the model, sorted)}`.

    Raises:
        UserError: `out` is not a `.weights.h5` file, the checkpoint has no classifier while `include_top`
            is True, or it is not a ResNet checkpoint that fits `model`.
        UnsafeWeights: Reading the checkpoint could run code from it (a pickle payload).
        FileNotFoundError: The checkpoint does not exist.
    """
    checkpoint, out = os.fspath(checkpoint), os.fspath(out)
    if not out.endswith(SUFFIX):
        raise UserError(f"The output must end in {SUFFIX} (Keras' weights format). Received: out={out!r}")
    from keras_resnet.models import weights

    tensors = weights.read_checkpoint(checkpoint)  # before TensorFlow starts
    inferred, classes = weights.checkpoint_architecture(tensors)
    if include_top and classes is None:
        raise UserError(
            f"{checkpoint} has no classifier (fc): pass include_top=False to convert it without one. "
            f"Received: checkpoint={checkpoint!r}"
        )
    from keras_resnet.files import atomic_path, check_writable
    from keras_resnet.models.builders import create_model

    check_writable(out)
    net = create_model(model or inferred, include_top=include_top, classes=classes or 1000)
    report, skipped = weights.apply_checkpoint(net, tensors, checkpoint)
    with atomic_path(out, suffix=SUFFIX) as tmp:
        net.save_weights(tmp)
    return {
        "checkpoint": checkpoint,
        "out": out,
        "model": net.name,
        "classes": classes if include_top else None,
        "include_top": include_top,
        "tensors": [
            {
                "source": m.source,
                "source_shape": [int(d) for d in m.source_shape],
                "target": m.target,
                "shape": [int(d) for d in m.shape],
            }
            for m in report
        ],
        "skipped": sorted(skipped),
    }


def format_conversion(conversion: dict) -> str:
    """The report of `convert_weights` for people: one line per tensor (checkpoint name and shape -> our
    weight and shape), what was skipped, and a summary line.

    Args:
        conversion: What `convert_weights` returns.

    Returns:
        The report as text.
    """
    tensors = conversion["tensors"]
    width = max((len(t["source"]) for t in tensors), default=0)
    lines = [
        f"{t['source']:<{width}} {str(tuple(t['source_shape'])):<18} -> {t['target']} {tuple(t['shape'])}"
        for t in tensors
    ]
    skipped = conversion["skipped"]
    if skipped:
        lines.append(f"skipped {len(skipped)} tensor(s): {', '.join(skipped)}")
    top = f"classes {conversion['classes']}" if conversion["include_top"] else "no top"
    lines.append(
        f"{conversion['checkpoint']}: {conversion['model']}, {len(tensors)} tensors mapped, {top} -> "
        f"{conversion['out']}"
    )
    return "\n".join(lines)
