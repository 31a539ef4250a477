"""Residual blocks as plain functions over Keras layers.

One function builds every block of the paper: basic (two 3x3) or bottleneck (1x1-3x3-1x1), post-activation
(He et al. 2016) or pre-activation (He et al. "Identity Mappings", 2016), with shortcut option A, B, C or
none. Layer names follow keras.applications (`conv2_block1_1_conv`, `..._0_conv` for the projection) so
weight files load by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from keras import layers

from keras_resnet.models.specs import BOTTLENECK_EXPANSION


@dataclass(frozen=True)
class Layout:
    """How convolutions are laid out; `variant` picks the weight world a model can load.

    v1.5 (torchvision): stride on the 3x3 conv, symmetric explicit padding for strided convs, no conv bias,
    BatchNorm epsilon 1e-5. v1 (keras.applications): stride on the first 1x1 of a bottleneck, TF 'same'
    padding, conv bias, epsilon 1.001e-5; with `preact` it is keras.applications' ResNetV2 layout, which
    downsamples in the last block of a stage.
    """

    variant: str
    preact: bool
    shortcut: str | None

    @property
    def bn_epsilon(self) -> float:
        return 1.001e-5 if self.variant == "v1" else 1e-5

    @property
    def stride_in_last_block(self) -> bool:
        return self.variant == "v1" and self.preact

    def use_bias(self, feeds_batchnorm: bool) -> bool:
        # keras.applications v1 puts a bias on every conv; its V2 only on convs not followed by BatchNorm.
        return self.variant == "v1" and (not self.preact or not feeds_batchnorm)


def conv(x, layout: Layout, filters: int, kernel: int, stride: int, name: str, feeds_batchnorm=True):
    """A convolution; strided ones get explicit symmetric padding unless the layout is plain v1.

    TF's 'same' pads a stride-2 3x3 conv only at the bottom/right, PyTorch pads both sides by one: the
    two disagree on every output pixel, so weights trained in one world need that world's padding.
    """
    explicit = stride > 1 and kernel > 1 and (layout.variant == "v1.5" or layout.preact)
    if explicit:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    return layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="valid" if explicit else "same",
        use_bias=layout.use_bias(feeds_batchnorm),
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)


def batchnorm(x, layout: Layout, name: str):
    return layers.BatchNormalization(epsilon=layout.bn_epsilon, momentum=0.9, name=name)(x)


ZERO_PAD = "_zeropad"  # name suffix of the option-A shortcut layers


def zero_pad_kernel(channels: int, filters: int, first: int = 0) -> np.ndarray:
    """The 1x1 kernel of an option-A shortcut: input channel i becomes output channel `first` + i, the other
    outputs are zeros ([I | 0] for first=0)."""
    kernel = np.zeros((1, 1, channels, filters), dtype="float32")
    kernel[0, 0, np.arange(channels), first + np.arange(channels)] = 1.0
    return kernel


def zero_pad_shortcut(x, filters: int, stride: int, name: str):
    """Option A: identity on the input channels, zeros for the new ones, subsampled by `stride`.

    Built as a frozen 1x1 convolution whose kernel is [I | 0]: a standard layer that every converter and
    accelerator knows (TFLite CONV_2D, Edge TPU, TFLM), where a channel PAD would be refused by the Edge
    TPU. It holds no trainable parameter, so parameter counts match the paper's Table 6. The paper leaves
    open which channels carry the identity; weights trained elsewhere may place it otherwise, and their
    loader then rewrites this kernel (`keras_resnet.models.weights.place_identity`).
    """
    layer = layers.Conv2D(
        filters,
        1,
        strides=stride,
        use_bias=False,
        trainable=False,
        kernel_initializer="zeros",
        name=f"{name}{ZERO_PAD}",
    )
    y = layer(x)
    layer.kernel.assign(zero_pad_kernel(x.shape[-1], filters))
    return y


def shortcut(x, source, layout: Layout, filters: int, stride: int, name: str):
    """The shortcut branch of a block, or None for a plain network.

    `x` is the block input; `source` is what a projection reads (the pre-activated input in preact nets).
    """
    widens = x.shape[-1] != filters  # "increasing dimensions" in the paper's words
    if layout.shortcut is None:
        return None
    if layout.shortcut == "C" or (layout.shortcut == "B" and widens):
        y = conv(source, layout, filters, 1, stride, f"{name}_0", feeds_batchnorm=not layout.preact)
        return y if layout.preact else batchnorm(y, layout, f"{name}_0_bn")
    if layout.shortcut == "A" and widens:
        return zero_pad_shortcut(x, filters, stride, name)
    if stride != 1:  # identity across a strided block that keeps its width (keras.applications V2 layout)
        return layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    return x


def block_convs(
    kind: str, layout: Layout, filters: int, stride: int, inner: tuple[int, ...] | None = None
) -> list[tuple[int, int, int]]:
    """(filters, kernel, stride) of each conv of a block, by block kind and stride placement.

    `inner`: filters of the convs before the last (the ones no shortcut ties: one for a basic block,
    two for a bottleneck), for blocks narrowed by channel pruning; None gives each the stage width.
    """
    if kind == "basic":
        (first,) = inner or (filters,)
        return [(first, 3, stride), (filters, 3, 1)]
    first, second = inner or (filters, filters)
    out = filters * BOTTLENECK_EXPANSION
    if layout.variant == "v1" and not layout.preact:
        return [(first, 1, stride), (second, 3, 1), (out, 1, 1)]
    return [(first, 1, 1), (second, 3, stride), (out, 1, 1)]


def residual_block(
    x, kind: str, layout: Layout, filters: int, stride: int, name: str, inner: tuple[int, ...] | None = None
):
    """One block: convs with BatchNorm and ReLU in post- or pre-activation order, plus its shortcut."""
    convs = block_convs(kind, layout, filters, stride, inner)
    out_filters = convs[-1][0]
    source = x
    if layout.preact:
        source = batchnorm(x, layout, f"{name}_preact_bn")
        source = layers.Activation("relu", name=f"{name}_preact_relu")(source)
    skip = shortcut(x, source, layout, out_filters, stride, name)
    y = source
    for i, (f, k, s) in enumerate(convs, start=1):
        last = i == len(convs)
        y = conv(y, layout, f, k, s, f"{name}_{i}", feeds_batchnorm=not (last and layout.preact))
        if last and layout.preact:
            break
        y = batchnorm(y, layout, f"{name}_{i}_bn")
        if not last:
            y = layers.Activation("relu", name=f"{name}_{i}_relu")(y)
    if skip is not None:
        y = layers.Add(name=f"{name}_out" if layout.preact else f"{name}_add")([skip, y])
    if not layout.preact:
        y = layers.Activation("relu", name=f"{name}_out")(y)
    return y


def stage(
    x,
    kind: str,
    layout: Layout,
    filters: int,
    blocks: int,
    stride: int,
    name: str,
    next_stride: int,
    inner_widths: tuple[tuple[int, ...], ...] | None = None,
):
    """A stage of `blocks` blocks; it downsamples in its first block, or in its last for V2 layouts.

    `inner_widths[b]`: the inner filters of block b+1 (see `block_convs`); None: the stage width.
    """
    for b in range(1, blocks + 1):
        if layout.stride_in_last_block:
            s = next_stride if b == blocks else 1
        else:
            s = stride if b == 1 else 1
        inner = inner_widths[b - 1] if inner_widths else None
        x = residual_block(x, kind, layout, filters, s, f"{name}_block{b}", inner)
    return x
