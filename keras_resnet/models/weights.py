"""Load weight files into built models, with an error that names the first tensor that does not fit.

Formats, told apart by the file name:

- `.weights.h5`: Keras 3 `save_weights` of the same architecture (a model built with `include_top=False`
  takes the backbone of a file that has a classifier).
- `.h5` / `.hdf5`: Keras 2 `save_weights`, the files keras.applications ships; matched by layer name.
- `.pth` / `.pt` / `.bin` PyTorch state dicts and `.safetensors` files of torchvision or timm ResNet-18, 34,
  50, 101 and 152, mapped tensor by tensor onto `variant="v1.5"` models (`torch_module` gives the names);
  `.th` files of akamaster/pytorch_resnet_cifar10's CIFAR ResNets onto our option-A CIFAR nets.

Files from strangers cannot run code: PyTorch files are read only with `torch.load(weights_only=True)`,
which refuses any pickled object other than tensors and plain containers; `.safetensors` holds no code at
all and is read with the `safetensors` package's NumPy API (no torch needed). Published files named by
`weights="imagenet"` etc. (`keras_resnet.models.pretrained`) are fetched by `keras_resnet.models.download`.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from dataclasses import dataclass

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.files import readable_file
from keras_resnet.models.pretrained import Published

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".pth.tar", ".ckpt", ".th")
SAFETENSORS_SUFFIX = ".safetensors"
CLASSIFIER = "predictions"


class WeightsMismatch(UserError):
    """A weights file that does not fit the model it is loaded into, or cannot be read."""


class UnsafeWeights(UserError):
    """A weights file refused because reading it could run code from the file."""


# --- PyTorch names ------------------------------------------------------------------------------------------
#
# torchvision and timm name a ResNet's tensors alike: `conv1`, `bn1`, `layer{1-4}.{block}.conv{1-3}` and
# `.bn{1-3}`, the projection shortcut `layer{s}.0.downsample.0` (conv) and `.downsample.1` (BatchNorm), and
# the classifier `fc`. akamaster/pytorch_resnet_cifar10's CIFAR nets use the same names for `layer{1-3}` of
# basic blocks, no tensor at all for their option-A shortcuts, and `linear` for the classifier. All are the
# v1.5 layout: the stride sits on the 3x3 conv of a bottleneck, and every strided conv pads symmetrically.
#
# The padding is why only `variant="v1.5"` models can take these weights. A stride-2 convolution with
# TensorFlow's padding="same" on an even-sized input pads only at the bottom and right (for a 3x3 kernel:
# 0 rows on top, 1 below), while PyTorch's padding=1 pads one row and column on every side. The two sample
# the input on grids shifted by one pixel, so the same kernel gives a different value at every output
# position, and the difference compounds through the network. `blocks.conv` therefore builds v1.5 strided
# convs as an explicit symmetric `ZeroPadding2D` followed by a "valid" convolution, as PyTorch computes
# them; the 7x7 stem likewise pads 3 on each side. The stem's 3x3/2 max-pool pads with zeros where PyTorch
# pads with -inf: equal here, because it follows a ReLU and its inputs are never negative.

_BLOCK_LAYER = re.compile(r"conv(\d)_block(\d+)_(\d)_(conv|bn)")
_FIXED_MODULES = {"conv1_conv": "conv1", "conv1_bn": "bn1"}
# Our variable name -> the PyTorch tensor name (Conv2d/Linear weight and bias; BatchNorm2d statistics).
_TORCH_TENSOR = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
_IGNORED_SUFFIX = ".num_batches_tracked"  # BatchNorm2d's update counter: nothing in Keras needs it


@dataclass(frozen=True)
class TorchLayout:
    """A family of PyTorch ResNets: the name of its classifier, and which of our models its files fit."""

    classifier: str
    fits: str


TORCHVISION = TorchLayout(
    "fc",
    "PyTorch ImageNet ResNet checkpoints (torchvision, timm) fit ImageNet ResNets "
    "built with variant='v1.5', preact=False, width=1",
)
AKAMASTER = TorchLayout(
    "linear",
    "PyTorch CIFAR ResNet checkpoints (akamaster/pytorch_resnet_cifar10) fit CIFAR "
    "ResNets built with option-A shortcuts, preact=False, width=1",
)


def torch_layout(model) -> TorchLayout:
    """The PyTorch family whose checkpoints `model` takes: torchvision's for ImageNet nets, else akamaster's."""
    return TORCHVISION if any(layer.name == "pool1_pool" for layer in model.layers) else AKAMASTER


def torch_module(layer_name: str, classifier: str = "fc") -> str | None:
    """The PyTorch module holding one of our layers' tensors, e.g. conv3_block2_1_conv -> layer2.1.conv1.

    None for a layer with no counterpart (the v1 and pre-activation layouts).
    """
    if layer_name == CLASSIFIER:
        return classifier
    if layer_name in _FIXED_MODULES:
        return _FIXED_MODULES[layer_name]
    match = _BLOCK_LAYER.fullmatch(layer_name)
    if not match:
        return None
    stage, block, index, kind = match.groups()
    prefix = f"layer{int(stage) - 1}.{int(block) - 1}."
    if index == "0":
        return prefix + ("downsample.0" if kind == "conv" else "downsample.1")
    return prefix + f"{kind}{index}"


def to_keras_layout(array: np.ndarray) -> np.ndarray:
    """A PyTorch tensor in our layout: conv kernels OIHW -> HWIO, Linear (out, in) -> Dense (in, out)."""
    if array.ndim == 4:
        return array.transpose(2, 3, 1, 0)
    if array.ndim == 2:
        return array.T
    return array


@dataclass(frozen=True)
class Mapped:
    """One tensor of a checkpoint and the model weight it became."""

    source: str
    source_shape: tuple
    target: str
    shape: tuple


def map_torch(model, tensors: dict[str, np.ndarray], path: str) -> tuple[dict, list[Mapped], list[str]]:
    """Match a state dict to `model`: ({layer name: arrays in Keras order}, the report, skipped names).

    Walks the model's layers in order and stops at the first tensor that is missing or of the wrong shape;
    then refuses tensors the model has no place for (a deeper net's checkpoint). The classifier (`fc.*`,
    `linear.*`) is skipped when the model was built with include_top=False; option-A shortcuts hold no
    tensor in PyTorch (`place_identity` sets their frozen kernels).
    """
    from keras_resnet.models.blocks import ZERO_PAD  # Keras: imported once a model exists, not to read files

    layout = torch_layout(model)
    arrays, report, used = {}, [], set()
    for layer in model.layers:
        if not layer.weights or layer.name.endswith(ZERO_PAD):
            continue
        module = torch_module(layer.name, layout.classifier)
        if module is None:
            raise WeightsMismatch(
                f"{path}: layer {layer.name!r} has no counterpart in a PyTorch ResNet. "
                f"{layout.fits}. Received: {model.name}"
            )
        arrays[layer.name] = []
        for variable in layer.weights:
            key = f"{module}.{_TORCH_TENSOR.get(variable.name, variable.name)}"
            target, shape = f"{layer.name}/{variable.name}", tuple(variable.shape)
            if key not in tensors:
                raise WeightsMismatch(
                    f"{path} has no tensor {key!r} for {target} (wrong depth or layout? "
                    f"{layout.fits}). Received: {path}"
                )
            value = to_keras_layout(tensors[key])
            if value.shape != shape:
                hint = (
                    " (wrong classes? pass include_top=False, or classes equal to the checkpoint's)"
                    if layer.name == CLASSIFIER
                    else " (wrong depth or width?)"
                )
                raise WeightsMismatch(
                    f"{path}: tensor {key!r} of shape {tuple(tensors[key].shape)} does not fit "
                    f"{target} of shape {shape}{hint}. Received: {path}"
                )
            arrays[layer.name].append(value.astype(np.float32))
            report.append(Mapped(key, tuple(tensors[key].shape), target, shape))
            used.add(key)
    has_top = CLASSIFIER in arrays
    skipped = [
        k
        for k in tensors
        if k not in used and (k.endswith(_IGNORED_SUFFIX) or (not has_top and k.startswith(f"{layout.classifier}.")))
    ]
    unused = [k for k in tensors if k not in used and k not in skipped]
    if unused:
        raise WeightsMismatch(
            f"{path} holds {len(unused)} tensor(s) this model has no place for, the first "
            f"{unused[0]!r} (a deeper ResNet's checkpoint?). Received: {model.name}"
        )
    return arrays, report, skipped


# --- reading files ------------------------------------------------------------------------------------------


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else err.__class__.__name__


def _read_torch(path: str) -> dict:
    """A PyTorch checkpoint through `torch.load(weights_only=True)`: tensors only, never arbitrary objects."""
    try:
        import torch
    except ImportError:
        raise WeightsMismatch(
            f"Reading the PyTorch file {path} needs torch (pip install torch; the CPU build "
            f"is enough), or save it as .safetensors. Received: {path}"
        ) from None
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on its way to refusing a file
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeWeights(
            f"Refusing {path}: it holds Python objects other than tensors, and loading them "
            f"could run code from the file ({_first_line(err)[:120]}). Save a plain state_dict "
            f"or a .safetensors file. Received: {path}"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise WeightsMismatch(
            f"{path} is not a readable PyTorch checkpoint (truncated or corrupt: "
            f"{_first_line(err)[:160]}). Received: {path}"
        ) from None


def _as_numpy(value) -> np.ndarray:
    """A torch tensor (any float type, bfloat16 included) as a NumPy array."""
    return (value.float() if value.is_floating_point() else value).numpy()


def _state_dict(obj, path: str) -> dict[str, np.ndarray]:
    """The {name: array} of a loaded PyTorch object: a state dict, or a training checkpoint wrapping one
    (`state_dict` / `model` key, as timm's and many training scripts write), `module.` prefixes removed."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "state_dict_ema"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(hasattr(v, "is_floating_point") for v in obj.values()):
        raise WeightsMismatch(f"{path} holds no state dict of tensors (save model.state_dict()). Received: {path}")
    return {k.removeprefix("module."): _as_numpy(v) for k, v in obj.items()}


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
    except ImportError:
        raise WeightsMismatch(
            f"Reading {path} needs the safetensors package (pip install safetensors). Received: {path}"
        ) from None
    try:
        return load_file(path)
    except (SafetensorError, ValueError, TypeError, OSError) as err:
        raise WeightsMismatch(
            f"{path} is not a readable .safetensors file (truncated or corrupt: "
            f"{_first_line(err)[:160]}). Received: {path}"
        ) from None


def read_checkpoint(path) -> dict[str, np.ndarray]:
    """{tensor name: array} of a PyTorch (`.pth`, `.pt`, `.bin`) or `.safetensors` checkpoint, safely."""
    path = readable_file(path, "Weights file")
    if path.endswith(SAFETENSORS_SUFFIX):
        return _read_safetensors(path)
    return _state_dict(_read_torch(path), path)


def is_checkpoint(path) -> bool:
    """Whether `path` names a PyTorch or safetensors file (by its suffix)."""
    return os.fspath(path).endswith(TORCH_SUFFIXES + (SAFETENSORS_SUFFIX,))


def checkpoint_architecture(tensors: dict[str, np.ndarray]) -> tuple[str, int | None]:
    """(registered model name, classes or None without a classifier) of a torchvision/timm ResNet state dict
    or an akamaster CIFAR ResNet's."""
    from keras_resnet.models.specs import IMAGENET_TABLE, REGISTRY

    blocks = [len({k.split(".")[1] for k in tensors if k.startswith(f"layer{s}.")}) for s in range(1, 5)]
    kind = "bottleneck" if any(".conv3." in k for k in tensors) else "basic"
    classes = next((tensors[k].shape[0] for k in ("fc.weight", "linear.weight") if k in tensors), None)
    cifar = f"resnet{6 * blocks[0] + 2}"
    if kind == "basic" and blocks[3] == 0 and len(set(blocks[:3])) == 1 and cifar in REGISTRY:
        return cifar, classes
    for depth, spec in IMAGENET_TABLE.items():
        if spec == (kind, tuple(blocks)):
            return f"resnet{depth}", classes
    raise WeightsMismatch(
        f"Not a ResNet-18/34/50/101/152 or CIFAR ResNet checkpoint: {kind} blocks {blocks} per "
        f"stage (first tensor {next(iter(tensors), None)!r})."
    )


def place_identity(model) -> None:
    """Set every option-A shortcut's frozen kernel so that the identity lands where akamaster's does.

    Their shortcut is `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))`: planes // 4 zero
    channels on each side of the channel axis, so input channel i becomes output channel planes // 4 + i;
    our builder's [I | 0] puts it at channel i. With their weights and ours, every block after the first
    widening one would add the shortcut to the wrong channels. The kernel is a weight of the model, so it is
    written here with the checkpoint's tensors (a model saved afterwards keeps it), rather than by a builder
    option that would exist for one family of files.
    """
    from keras_resnet.models.blocks import ZERO_PAD, zero_pad_kernel

    for layer in model.layers:
        if layer.name.endswith(ZERO_PAD):
            channels, filters = layer.kernel.shape[2:]
            layer.kernel.assign(zero_pad_kernel(channels, filters, first=(filters - channels) // 2))


def apply_checkpoint(model, tensors: dict[str, np.ndarray], path: str) -> tuple[list[Mapped], list[str]]:
    """Set `model`'s weights from a state dict (`map_torch`), option-A shortcuts placed as PyTorch's CIFAR
    nets place them; returns what was mapped, tensor by tensor, and the names skipped."""
    arrays, report, skipped = map_torch(model, tensors, path)
    for name, values in arrays.items():
        model.get_layer(name).set_weights(values)
    if torch_layout(model) is AKAMASTER:
        place_identity(model)
    return report, skipped


def load_checkpoint(model, path) -> list[Mapped]:
    """Load a PyTorch or safetensors checkpoint into `model`; returns what was mapped, tensor by tensor."""
    return apply_checkpoint(model, read_checkpoint(path), os.fspath(path))[0]


# --- Keras files --------------------------------------------------------------------------------------------


def _h5_layer_weights(path):
    """{layer name: [array shapes]} of a legacy keras.applications-style .h5 weights file."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise WeightsMismatch(
            f"{path} is not a readable HDF5 file (truncated or corrupt: {_first_line(err)}). Received: {path}"
        ) from None
    with f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise WeightsMismatch(f"{path} is not a Keras .h5 weights file (no layer_names). Received: {path}")
        result = {}
        for raw in group.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else raw
            names = group[name].attrs.get("weight_names", [])
            result[name] = [tuple(group[name][n.decode() if isinstance(n, bytes) else n].shape) for n in names]
        return result


def check_h5_fits(model, path):
    """Raise WeightsMismatch naming the first weighted layer of `model` missing from or unlike the file,
    or the first layer of the file that the model lacks (but the classifier, for include_top=False)."""
    stored = _h5_layer_weights(path)
    names = set()
    for layer in model.layers:
        shapes = [tuple(w.shape) for w in layer.weights]
        if not shapes:
            continue
        names.add(layer.name)
        if layer.name not in stored:
            raise WeightsMismatch(
                f"{path} has no weights for layer {layer.name!r} (wrong depth or variant?). Received: {path}"
            )
        if stored[layer.name] != shapes:
            raise WeightsMismatch(
                f"{path}: layer {layer.name!r} holds {stored[layer.name]} but the model expects {shapes} "
                f"(wrong classes? pass include_top=False or the right classes). Received: {path}"
            )
    extra = [n for n, shapes in stored.items() if shapes and n not in names and n != CLASSIFIER]
    if extra:
        raise WeightsMismatch(
            f"{path} holds weights for layer {extra[0]!r}, which {model.name} lacks (a deeper "
            f"ResNet's file?). Received: {path}"
        )


def _keras_tensor_count(path: str) -> int:
    """How many layer weights a Keras 3 `.weights.h5` file holds (its optimizer state not counted)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            counted = []
            f["layers"].visititems(lambda name, obj: counted.append(name) if isinstance(obj, h5py.Dataset) else None)
            return len(counted)
    except (OSError, KeyError) as err:
        raise WeightsMismatch(
            f"{path} is not a Keras .weights.h5 file ({_first_line(err)}). Received: {path}"
        ) from None


def _load_keras_weights(model, path: str) -> None:
    """A Keras 3 `.weights.h5` file: the same architecture, or the same one less its classifier."""
    stored, expected = _keras_tensor_count(path), len(model.weights)
    topless = CLASSIFIER not in {layer.name for layer in model.layers}
    if stored != expected and not (topless and stored == expected + 2):
        raise WeightsMismatch(
            f"{path} holds {stored} weight tensors but {model.name} has {expected} (another "
            f"depth or width?). Received: {path}"
        )
    try:
        with warnings.catch_warnings():  # a model without its top skips the file's classifier, and says so
            warnings.filterwarnings("ignore", message="Skipping nested container")
            model.load_weights(path)
    except ValueError as err:
        raise WeightsMismatch(f"{path} does not fit {model.name}: {' '.join(str(err).split())}") from None


def take_rgb(model) -> None:
    """Reverse the input channels of the first conv's kernel: weights trained on BGR pixels (keras.applications'
    "caffe" mode) then compute on RGB ones, as every model here takes them."""
    layer = model.get_layer("conv1_conv")
    layer.kernel.assign(np.asarray(layer.kernel)[:, :, ::-1, :])


def load_weights(model, weights) -> None:
    """Load `weights` into `model`: a published file (`pretrained.Published`: fetched into the Keras cache
    and checked, BGR weights turned to RGB), or a weights file by its path."""
    if isinstance(weights, Published):
        from keras_resnet.models.download import fetch

        load_file(model, fetch(weights))
        if weights.bgr:
            take_rgb(model)
        return
    load_file(model, weights)


def load_file(model, path) -> None:
    """Load `path` into `model`, by its suffix: `.weights.h5`, legacy `.h5`, PyTorch or `.safetensors`."""
    path = readable_file(path, "Weights file")
    if path.endswith(".weights.h5"):
        _load_keras_weights(model, path)
    elif path.endswith((".h5", ".hdf5")):
        check_h5_fits(model, path)
        model.load_weights(path, by_name=True)
    elif is_checkpoint(path):
        load_checkpoint(model, path)
    else:
        raise WeightsMismatch(
            f"Unsupported weights file {path}: expected .weights.h5, .h5, .pth, .pt, .bin, .th or "
            f".safetensors. Received: {path}"
        )
