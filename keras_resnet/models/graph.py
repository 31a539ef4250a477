"""Walk a Keras functional model as a graph: layers in execution order with their input/output tensors.

Keras 3 and tf_keras (Keras 2) keep this in differently named private attributes; this module is the one
place that knows both, for the profiler and the twin builder.
"""

from __future__ import annotations


def _ordered_layers(model):
    if hasattr(model, "operations"):  # Keras 3
        return list(model.operations)
    return list(model.layers)  # tf_keras: already topologically ordered


def _node_tensors(node):
    if hasattr(node, "input_tensors") and not callable(node.input_tensors):
        return list(node.input_tensors), list(node.output_tensors)
    ins, outs = node.input_tensors, node.output_tensors  # tf_keras: a tensor or a list
    return (
        list(ins) if isinstance(ins, (list, tuple)) else [ins],
        list(outs) if isinstance(outs, (list, tuple)) else [outs],
    )


def nodes(model):
    """Yield (layer, input_tensors, output_tensors) for each call of a layer inside `model`, in order."""
    for layer in _ordered_layers(model):
        for node in layer._inbound_nodes:
            ins, outs = _node_tensors(node)
            if layer.__class__.__name__ == "InputLayer":
                ins = []
            yield layer, ins, outs
