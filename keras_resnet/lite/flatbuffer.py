"""Read a .tflite flatbuffer without TensorFlow: operators, tensors, shapes, dtypes, quantization, buffers.

Only LiteRT's generated schema (`ai_edge_litert.schema_py_generated`) and NumPy are used, so the device
side can read models too. A malformed file never crashes the reader: every failure becomes a UserError
that says what is wrong, and vector lengths are checked against the file size before any loop runs, so
a corrupted length cannot make the reader spin or exhaust memory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.files import read_bytes

FILE_IDENTIFIER = b"TFL3"
# What a corrupted flatbuffer raises while being read (offsets out of range, bad UTF-8, odd numbers).
MALFORMED = (
    struct.error,
    IndexError,
    ValueError,
    TypeError,
    AttributeError,
    UnicodeDecodeError,
    OverflowError,
    KeyError,
    MemoryError,
)


def schema():
    """LiteRT's generated flatbuffer schema module (imported on first use: tflite_runtime-only devices lack it)."""
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def unpack(data: bytes):
    """The model as the schema's object API holds it (`ModelT`): every field, to change and `pack` again."""
    return schema().ModelT.InitFromPackedBuf(bytearray(data), 0)


def pack(model) -> bytes:
    """A `ModelT` (`unpack`) written back as a .tflite flatbuffer."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _enum_names(enum_class) -> dict[int, str]:
    return {value: name for name, value in vars(enum_class).items() if not name.startswith("_")}


@dataclass(frozen=True)
class Tensor:
    """One tensor of a subgraph; `data_bytes` > 0 means it is a constant stored in the file."""

    index: int
    name: str
    dtype: str  # "int8", "float32", ... (the schema's TensorType in lower case)
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 marks a dimension only known at run time
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    buffer: int
    data_bytes: int
    sparse: bool = False  # constant data stored in TFLite's sparse format (smaller than the shape says)

    @property
    def is_constant(self) -> bool:
        return self.data_bytes > 0

    @property
    def is_dynamic(self) -> bool:
        """A dimension other than the batch is known only at run time. An open batch (`shape_signature`
        [-1, 32, 32, 3], as TensorFlow's converter writes it by default) is not: the tensor's `shape` holds
        batch 1, and interpreters, TFLite-Micro included, run it as that."""
        return any(d < 0 for d in self.shape_signature[1:]) or any(d < 0 for d in self.shape)

    @property
    def quantized(self) -> bool:
        return len(self.scale) > 0


@dataclass(frozen=True)
class Operator:
    """One operator in execution order; `options` holds its builtin options as plain values."""

    index: int
    opcode: str  # builtin name ("CONV_2D") or "CUSTOM"
    custom_code: str | None
    version: int
    inputs: tuple[int, ...]  # tensor indices, -1 for an omitted optional input
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.custom_code if self.opcode == "CUSTOM" and self.custom_code else self.opcode


@dataclass(frozen=True)
class Model:
    """The main subgraph of a TFLite model plus the file-level facts the tools need."""

    size: int
    version: int
    subgraph_count: int
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    _data: bytes = field(repr=False, compare=False)
    _buffer_spans: tuple[tuple[int, int], ...] = field(repr=False, compare=False)

    @property
    def data(self) -> bytes:
        """The model file's bytes."""
        return self._data

    def tensor(self, index: int) -> Tensor | None:
        """The tensor at `index`, or None for an omitted optional input (-1)."""
        return self.tensors[index] if 0 <= index < len(self.tensors) else None

    def constant(self, tensor: Tensor, dtype) -> np.ndarray | None:
        """A constant tensor's values as `dtype` (e.g. axes, paddings), or None when it has no data."""
        if not tensor.is_constant or not 0 <= tensor.buffer < len(self._buffer_spans):
            return None
        start, size = self._buffer_spans[tensor.buffer]
        itemsize = np.dtype(dtype).itemsize
        return np.frombuffer(self._data, dtype=dtype, count=size // itemsize, offset=start).copy()

    def op_names(self) -> list[str]:
        """Distinct operator names in order of first use."""
        return list(dict.fromkeys(op.name for op in self.operators))


def read_file(path) -> Model:
    """Read the .tflite file at `path` (a clear error if it is missing, empty or not a TFLite model)."""
    return read(read_bytes(path, "TFLite file"), name=path)


class Damaged(UserError):
    """What is wrong with a damaged model; `read` adds whose it is and what to do."""


def read(data: bytes, name: str = "the model") -> Model:
    """Parse TFLite flatbuffer bytes into a Model; UserError for anything that is not a valid model.

    Beyond the flatbuffer's structure it checks what runtimes trust without checking (TFLite-Micro
    checks almost nothing): indices in range, constant data as large as its shape, sizes and
    quantization that make sense, strides and filter sizes of at least 1. A model that passes is safe to
    hand to LiteRT's verifier and, once LiteRT has run it, to TFLite-Micro.
    """
    data = bytes(data)
    if len(data) < 16 or data[4:8] != FILE_IDENTIFIER:
        raise UserError(
            f"{name} is not a TFLite model (no TFL3 identifier: truncated, or another format): "
            f"pass a .tflite file made by the TFLite converter. Received: {len(data)} bytes "
            f"starting {data[:8]!r}"
        )
    try:
        model = _read(data)
        _check_contents(model)
        return model
    except Damaged as err:
        detail = str(err)
    except MALFORMED as err:
        detail = f"the flatbuffer could not be read ({err.__class__.__name__}: {err})"
    raise UserError(
        f"{name} is a damaged TFLite model: {detail}. Convert the model again or copy the file "
        f"anew. Received: {len(data)} bytes"
    ) from None


def _checked_length(n: int, data: bytes, what: str) -> int:
    """A vector length that the file could actually hold (each element takes at least one byte)."""
    if not 0 <= n <= len(data):
        raise Damaged(f"{what} claims {n} entries in a {len(data)}-byte file")
    return n


def _read(data: bytes) -> Model:
    generated = schema()
    root = generated.Model.GetRootAs(data, 0)
    n_subgraphs = _checked_length(root.SubgraphsLength(), data, "the subgraph list")
    if n_subgraphs == 0:
        raise Damaged("it has no subgraph")
    spans = _buffer_spans(root, data)
    graph = root.Subgraphs(0)
    tensors = tuple(
        _tensor(graph.Tensors(i), i, spans, generated)
        for i in range(_checked_length(graph.TensorsLength(), data, "the tensor list"))
    )
    codes = [
        _opcode(root.OperatorCodes(i), generated)
        for i in range(_checked_length(root.OperatorCodesLength(), data, "the operator-code list"))
    ]
    operators = tuple(
        _operator(graph.Operators(i), i, codes, len(tensors), generated)
        for i in range(_checked_length(graph.OperatorsLength(), data, "the operator list"))
    )
    return Model(
        size=len(data),
        version=int(root.Version()),
        subgraph_count=n_subgraphs,
        tensors=tensors,
        operators=operators,
        inputs=_indices(graph, "Inputs", data, len(tensors)),
        outputs=_indices(graph, "Outputs", data, len(tensors)),
        _data=data,
        _buffer_spans=spans,
    )


def _buffer_spans(root, data: bytes) -> tuple[tuple[int, int], ...]:
    """(start, size) of every buffer's bytes in the file: inline data, or an offset/size pair."""
    spans = []
    for i in range(_checked_length(root.BuffersLength(), data, "the buffer list")):
        buffer = root.Buffers(i)
        if buffer.Offset() > 1:  # large models keep their weights after the flatbuffer
            start, size = int(buffer.Offset()), int(buffer.Size())
        elif buffer.DataLength() > 0:
            start, size = buffer._tab.Vector(buffer._tab.Offset(4)), int(buffer.DataLength())
        else:
            start, size = 0, 0
        if start < 0 or start + size > len(data):
            raise Damaged(f"buffer {i} ({size} bytes at {start}) runs past the end of the {len(data)}-byte file")
        spans.append((start, size))
    return tuple(spans)


def _tensor(t, index: int, spans, generated) -> Tensor:
    types = _enum_names(generated.TensorType)
    q = t.Quantization()
    scale = tuple(float(s) for s in q.ScaleAsNumpy()) if q is not None and q.ScaleLength() else ()
    zero = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q is not None and q.ZeroPointLength() else ()
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    signature = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
    buffer = int(t.Buffer())
    data_bytes = spans[buffer][1] if 0 <= buffer < len(spans) else 0
    dtype = types.get(t.Type(), f"type{t.Type()}").lower()
    name = (t.Name() or b"").decode("utf-8", "replace")
    return Tensor(
        index=index,
        name=name,
        dtype=dtype,
        shape=shape,
        shape_signature=signature,
        scale=scale,
        zero_point=zero,
        buffer=buffer,
        data_bytes=data_bytes,
        sparse=t.Sparsity() is not None,
    )


def _opcode(code, generated) -> tuple[str, str | None, int]:
    """(builtin name, custom code, version); the real code is the larger of the two code fields."""
    names = _enum_names(generated.BuiltinOperator)
    builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
    custom = code.CustomCode()
    custom = custom.decode("utf-8", "replace") if custom else None
    return names.get(builtin, f"BUILTIN_{builtin}"), custom, int(code.Version())


def _operator(op, index: int, codes, n_tensors: int, generated) -> Operator:
    code = int(op.OpcodeIndex())
    if not 0 <= code < len(codes):
        raise Damaged(f"operator {index} uses operator code {code}, but the file has {len(codes)}")
    name, custom, version = codes[code]
    inputs = tuple(int(i) for i in op.InputsAsNumpy()) if op.InputsLength() else ()
    outputs = tuple(int(i) for i in op.OutputsAsNumpy()) if op.OutputsLength() else ()
    for i in inputs + outputs:
        if not -1 <= i < n_tensors:
            raise Damaged(f"operator {index} ({name}) refers to tensor {i}, but the subgraph has {n_tensors}")
    return Operator(
        index=index,
        opcode=name,
        custom_code=custom,
        version=version,
        inputs=inputs,
        outputs=outputs,
        options=_options(op, generated),
    )


def _options(op, generated) -> dict:
    """The operator's builtin options as {field: value} (fused activation, strides, dilation, axis...)."""
    kind = _enum_names(generated.BuiltinOptions).get(op.BuiltinOptionsType())
    table = op.BuiltinOptions()
    if not kind or kind == "NONE" or table is None or not hasattr(generated, f"{kind}T"):
        return {}
    values = vars(getattr(generated, f"{kind}T").InitFromBuf(table.Bytes, table.Pos))
    return {key: (value.tolist() if isinstance(value, np.ndarray) else value) for key, value in values.items()}


def _indices(graph, what: str, data: bytes, n_tensors: int) -> tuple[int, ...]:
    if not _checked_length(getattr(graph, f"{what}Length")(), data, f"the subgraph {what.lower()}"):
        return ()
    values = tuple(int(i) for i in getattr(graph, f"{what}AsNumpy")())
    if any(not 0 <= i < n_tensors for i in values):
        raise Damaged(f"the subgraph {what.lower()} {list(values)} refer to missing tensors")
    return values


# Bytes per element of the tensor types whose constant data can be checked against the shape.
ITEMSIZE = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "int32": 4,
    "uint32": 4,
    "int64": 8,
    "uint64": 8,
    "bool": 1,
    "complex64": 8,
    "complex128": 16,
}
INTEGER_TYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
MAX_TENSOR_BYTES = 2**29  # above any ResNet activation up to 2048x2048 inputs (268 MB); more is a damaged size
# Operator options that count pixels or steps: a value below 1 divides by zero or never advances.
AT_LEAST_ONE = (
    "strideW",
    "strideH",
    "dilationWFactor",
    "dilationHFactor",
    "filterWidth",
    "filterHeight",
    "depthMultiplier",
)


def _check_contents(model: Model) -> None:
    """Raise Damaged for contents a runtime would trust and crash on (see `read`)."""
    if not model.inputs or not model.outputs:
        raise Damaged(f"the graph has {len(model.inputs)} input(s) and {len(model.outputs)} output(s)")
    for t in model.tensors:
        if t.dtype.startswith("type"):
            raise Damaged(f"tensor {t.index} has the unknown type code {t.dtype[4:]}")
        if any(d < 0 for d in t.shape):
            raise Damaged(f"tensor {t.index} has the shape {list(t.shape)}")
        size = ITEMSIZE.get(t.dtype, 1) * int(np.prod(t.shape, dtype=np.float64))
        if size > MAX_TENSOR_BYTES:
            raise Damaged(f"tensor {t.index} of shape {list(t.shape)} would take {size:.3g} bytes")
        if t.is_constant and not t.sparse and t.dtype in ITEMSIZE and t.data_bytes != size:
            raise Damaged(
                f"constant tensor {t.index} of shape {list(t.shape)} ({t.dtype}) needs {size:.0f} bytes "
                f"but its buffer holds {t.data_bytes}"
            )
        if not all(np.isfinite(s) and s >= 0 for s in t.scale):
            raise Damaged(f"tensor {t.index} has the quantization scale(s) {list(t.scale)[:4]}")
        if t.dtype in INTEGER_TYPES and not all(
            np.iinfo(t.dtype).min <= z <= np.iinfo(t.dtype).max for z in t.zero_point
        ):
            raise Damaged(f"tensor {t.index} ({t.dtype}) has the zero point(s) {list(t.zero_point)[:4]}")
    for op in model.operators:
        first_optional = 1 if "LSTM" in op.name or "RNN" in op.name else 2  # recurrent weights may be absent
        if -1 in op.inputs[:first_optional] or -1 in op.outputs:
            raise Damaged(
                f"operator {op.index} ({op.name}) lacks a required tensor: inputs {list(op.inputs)}, "
                f"outputs {list(op.outputs)}"
            )
        for key in AT_LEAST_ONE:
            if key in op.options and not op.options[key] >= 1:
                raise Damaged(f"operator {op.index} ({op.name}) has {key} = {op.options[key]}")
        if op.opcode == "DEPTHWISE_CONV_2D":
            _check_depth_multiplier(model, op)


def _check_depth_multiplier(model: Model, op: Operator) -> None:
    """LiteRT infers a depthwise convolution's channel multiplier from the shapes, TFLite-Micro reads the option
    and loops over it: a wrong one makes TFLite-Micro read and write out of bounds."""
    if not op.inputs or not op.outputs:
        return
    source, result = model.tensor(op.inputs[0]), model.tensor(op.outputs[0])
    multiplier = op.options.get("depthMultiplier", 1)
    if source and result and source.shape and result.shape and result.shape[-1] != source.shape[-1] * multiplier:
        raise Damaged(
            f"operator {op.index} (DEPTHWISE_CONV_2D) has depthMultiplier {multiplier}, but its "
            f"{source.shape[-1]} input channels become {result.shape[-1]}"
        )


def activation_name(options: dict) -> str:
    """The fused activation of an operator's options ("NONE", "RELU", ...)."""
    return _enum_names(schema().ActivationFunctionType).get(options.get("fusedActivationFunction", 0), "NONE")
