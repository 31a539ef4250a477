"""Do two benchmark runs of the same models agree image by image? Top-1 agreement and largest output difference.

Both runs come from `python -m keras_resnet.bench MODELS --data SOURCE --outputs --json OUT` (or
`resnet-tflite bench ... --outputs`) with the same model files and images, e.g. on the workstation and on a
Raspberry Pi. Rows are matched by model, thread count and delegate. Per row: the images compared, the
fraction whose top-1 class is the same (of all images, and of those whose highest output is unique in both
runs: an int8 model can score two classes exactly alike, and its top-1 is then decided by the class index
alone, so one quantization step anywhere flips it), and the mean and largest absolute difference between
the two outputs, in the output tensor's own units (quantization steps for an int8 model), the largest also
dequantized. `resnet-tflite compare-outputs A.json B.json` prints it; tests/test_arm64.py holds an aarch64
run to it.
"""

from __future__ import annotations

import os

import numpy as np

from keras_resnet.device import results
from keras_resnet.errors import UserError

__all__ = ["agreement", "compare_outputs", "format_rows"]


def _outputs(row: dict, where: str) -> dict:
    """The kept outputs of a result row; a clear error when the run was made without outputs."""
    kept = (row.get("accuracy") or {}).get("outputs")
    if kept is None:
        raise UserError(
            f"{where} has no per-image outputs for {row['model']}: run the benchmark with "
            f"data=SOURCE and outputs=True. Received: {where}"
        )
    return kept


def _unique_top(values: np.ndarray) -> np.ndarray:
    """Per image: whether exactly one class has the highest output."""
    return np.sum(values == values.max(1, keepdims=True), axis=1) == 1


def agreement(a: dict, b: dict, names: tuple[str, str] = ("a", "b")) -> list[dict]:
    """Per row of benchmark result `a` that result `b` also has: images, top-1 agreement, output differences.

    Args:
        a: A benchmark result (`bench --json` with `--outputs`), as `results.load_results` reads it.
        b: The other result, of the same model files on the same images.
        names: What `a` and `b` are called in error messages (their file names).

    Returns:
        One dict per common row: `model`, `threads`, `output_dtype`, `images`, `top1_agreement`, `tied`
        (images whose best class is tied in either run), `top1_agreement_untied` (None when every image
        is tied), `mean_abs_diff` and `max_abs_diff` (in the output tensor's units), `max_abs_diff_dequantized`
        and `top1` (the pair of accuracies).

    Raises:
        UserError: A row is a different model file in the two runs, ran on other images, or kept no outputs.
    """
    theirs = {results.row_key(r): r for r in b["results"]}
    rows = []
    for mine in a["results"]:
        other = theirs.get(results.row_key(mine))
        if other is None:
            continue
        if mine["sha256"] != other["sha256"]:
            raise UserError(
                f"{mine['model']} is a different model file in {names[0]} and {names[1]} (sha256 "
                f"differs): compare runs of the same files."
            )
        x, y = _outputs(mine, names[0]), _outputs(other, names[1])
        if x["labels"] != y["labels"]:
            raise UserError(
                f"{mine['model']} ran on different images in {names[0]} and {names[1]} (labels "
                f"differ): use the same data and limit."
            )
        x, y = np.asarray(x["values"], np.float64), np.asarray(y["values"], np.float64)
        same = x.argmax(1) == y.argmax(1)
        untied = _unique_top(x) & _unique_top(y)
        diff = np.abs(x - y)
        scale = mine["output"]["scale"] if mine["output"]["dtype"] in ("int8", "uint8", "int16") else 0.0
        rows.append(
            {
                "model": mine["model"],
                "threads": mine["threads"],
                "output_dtype": mine["output"]["dtype"],
                "images": len(x),
                "top1_agreement": float(np.mean(same)),
                "tied": int(np.sum(~untied)),
                "top1_agreement_untied": float(np.mean(same[untied])) if untied.any() else None,
                "mean_abs_diff": float(diff.mean()),
                "max_abs_diff": float(diff.max()),
                "max_abs_diff_dequantized": float(diff.max() * scale if scale else diff.max()),
                "top1": (mine["accuracy"]["top1"], other["accuracy"]["top1"]),
            }
        )
    return rows


def format_rows(rows: list[dict]) -> str:
    """A fixed-width table of `agreement` rows (A and B are the two results, in the order given).

    Args:
        rows: What `agreement` returns.

    Returns:
        The table, a header line and one line per row.
    """
    lines = [
        f"{'model':<24}{'thr':>4}{'images':>8}{'top-1 same':>12}{'tied':>6}{'untied same':>13}"
        f"{'mean |diff|':>13}{'max |diff|':>12}{'dequantized':>13}{'top-1 A':>9}{'top-1 B':>9}"
    ]
    for r in rows:
        unit = " LSB" if r["output_dtype"] != "float32" else ""
        untied = "-" if r["top1_agreement_untied"] is None else format(r["top1_agreement_untied"], ".4f")
        largest = format(r["max_abs_diff"], ".3g") + unit
        lines.append(
            f"{r['model'][:23]:<24}{r['threads']:>4}{r['images']:>8}{r['top1_agreement']:>12.4f}"
            f"{r['tied']:>6}{untied:>13}{r['mean_abs_diff']:>13.3g}{largest:>12}"
            f"{r['max_abs_diff_dequantized']:>13.3g}{r['top1'][0]:>9.4f}{r['top1'][1]:>9.4f}"
        )
    return "\n".join(lines)


def compare_outputs(a: str | os.PathLike, b: str | os.PathLike) -> dict:
    """Compare two benchmark result files image by image (`agreement` on the rows they have in common).

    Args:
        a: A JSON file written by `bench --json` with `--data` and `--outputs`.
        b: Another such file, of the same model files on the same images (e.g. from another machine).

    Returns:
        `{"a": a, "b": b, "rows": [...]}`, the rows as `agreement` returns them.

    Raises:
        UserError: A file is not a single benchmark result (a reference file holds several), the two have
            no row in common, or a row cannot be compared (`agreement`).
        FileNotFoundError: A file does not exist.
    """
    a, b = os.fspath(a), os.fspath(b)
    first, second = results.load_results(a), results.load_results(b)
    if len(first) != 1 or len(second) != 1:
        raise UserError(
            f"Compare two single results written by bench --json, not reference files. Received: a={a!r}, b={b!r}"
        )
    rows = agreement(first[0], second[0], (a, b))
    if not rows:
        raise UserError(
            f"{a} and {b} have no model row in common (model, threads and delegate). Received: a={a!r}, b={b!r}"
        )
    return {"a": a, "b": b, "rows": rows}
