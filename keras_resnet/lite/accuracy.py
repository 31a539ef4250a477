"""Scoring a classifier's outputs against labels, one way everywhere (`eval`, `convert --verify`, `bench`, the
firmware): top-k with a stable sort, so that classes a quantized model scores exactly alike rank by class
index on every machine (NumPy's default sort orders ties differently on x86 and ARM)."""

from __future__ import annotations

import numpy as np


def topk(outputs: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 and top-5 accuracy (top-5 is None below 5 classes)."""
    order = np.argsort(-outputs, axis=1, kind="stable")
    top5 = float(np.mean(np.any(order[:, :5] == labels[:, None], axis=1))) if outputs.shape[1] >= 5 else None
    return {"images": int(len(labels)), "top1": float(np.mean(order[:, 0] == labels)), "top5": top5}


def top1(outputs: np.ndarray) -> np.ndarray:
    """Each row's best class, ties to the lowest index (as `topk` ranks them)."""
    return np.argsort(-outputs, axis=1, kind="stable")[:, 0]
