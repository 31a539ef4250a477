"""Count a model the way the paper's tables do: stages, output sizes, blocks, parameters, MACs, memory."""

from __future__ import annotations

import math
import re

from keras_resnet.models.graph import nodes

_STAGE = re.compile(r"^(conv\d+|pool\d+)")


def _count(shape) -> int:
    return math.prod(int(d) for d in shape if d is not None)


def _macs(layer, ins, outs) -> int:
    """Multiply-accumulates of one layer call at batch 1 (convolutions and dense layers only)."""
    kind = layer.__class__.__name__
    if kind in ("Conv2D", "DepthwiseConv2D"):
        # kernel (kh, kw, cin per group, cout) or (kh, kw, cin, multiplier): one MAC per weight per pixel
        return _count(outs[0].shape[1:3]) * _count(layer.kernel.shape)
    if kind == "Dense":
        return _count(layer.kernel.shape)
    return 0


def stage_of(layer_name: str) -> str:
    """The stage a layer belongs to by its keras.applications-style name: conv1..conv5 or head."""
    match = _STAGE.match(layer_name)
    if not match:
        return "input" if layer_name in ("image", "preprocess") else "head"
    return "conv1" if match.group(1) == "pool1" else match.group(1)


def peak_activation_bytes(model, bytes_per_element: int = 4) -> int:
    """Largest total size of live activations at batch 1 while running layers in order.

    A tensor is live from the layer that makes it until its last reader has run; during a layer its
    inputs and outputs are live together. This is what an arena allocator must hold at least.
    """
    calls = list(nodes(model))
    last_use = {}
    for step, (_, ins, _) in enumerate(calls):
        for t in ins:
            last_use[id(t)] = step
    for t in model.outputs:
        last_use[id(t)] = len(calls)
    live, peak = {}, 0
    for step, (_, ins, outs) in enumerate(calls):
        for t in outs:
            live[id(t)] = _count(t.shape[1:]) * bytes_per_element
        peak = max(peak, sum(live.values()))
        for t in ins:
            if last_use.get(id(t)) == step:
                live.pop(id(t), None)
    return peak


def profile(model) -> dict:
    """Parameters, MACs per stage and in total, and peak activation memory of a built model at batch 1.

    Returns {"params", "trainable_params", "macs", "peak_activation_bytes", "input_shape", "stages": [...]}
    where each stage row has name, output (h, w, c), blocks, params and macs.
    """
    rows = {}
    for layer, ins, outs in nodes(model):
        name = stage_of(layer.name)
        if name == "input":
            continue
        row = rows.setdefault(name, {"stage": name, "output": None, "blocks": set(), "params": 0, "macs": 0})
        row["params"] += sum(_count(w.shape) for w in layer.weights)
        row["macs"] += _macs(layer, ins, outs)
        row["output"] = tuple(outs[0].shape[1:])
        block = re.match(r"^conv\d+_(block\d+)", layer.name)
        if block:
            row["blocks"].add(block.group(1))
    stages = [dict(r, blocks=len(r["blocks"])) for r in rows.values()]
    trainable = sum(_count(w.shape) for w in model.trainable_weights)
    return {
        "name": model.name,
        "input_shape": tuple(model.inputs[0].shape[1:]),
        "params": sum(_count(w.shape) for w in model.weights),
        "trainable_params": trainable,
        "macs": sum(r["macs"] for r in stages),
        "peak_activation_bytes": peak_activation_bytes(model),
        "stages": stages,
    }


def format_profile(info: dict) -> str:
    """The profile as a text table in the paper's layout (stage, output size, blocks) plus counts."""
    lines = [
        f"{info['name']}  input {'x'.join(str(d) for d in info['input_shape'])}",
        f"{'stage':<8}{'output':>16}{'blocks':>8}{'params':>14}{'MACs':>16}",
    ]
    for r in info["stages"]:
        out = "x".join(str(d) for d in r["output"])
        lines.append(f"{r['stage']:<8}{out:>16}{r['blocks'] or '':>8}{r['params']:>14,}{r['macs']:>16,}")
    lines.append(
        f"params {info['params']:,} (trainable {info['trainable_params']:,})  "
        f"MACs {info['macs']:,} ({info['macs'] / 1e9:.3f} G)  "
        f"peak activations {info['peak_activation_bytes'] / 2**20:.2f} MiB (float32, batch 1)"
    )
    return "\n".join(lines)
