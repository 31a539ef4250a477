"""Build a ResNet, look at it the way the paper's tables do, and run it.

    .venv/bin/python examples/quickstart.py

Builds ResNet-18 (torchvision's layout) and the CIFAR ResNet-20, prints the paper-style profile of each
(stages, output sizes, blocks, parameters, multiply-accumulates, peak activation memory), shows how the
shortcut options change the parameter count, and classifies one image with raw 0-255 pixels (the
normalisation is part of the model).
"""

import numpy as np

from keras_resnet import ResNet18, ResNet20, ResNetCIFAR, format_profile, list_models, profile

print(f"{len(list_models())} registered models: {', '.join(list_models())}\n")

imagenet = ResNet18(weights=None)  # keras.applications' signature; weights=PATH loads a weights file
print(format_profile(profile(imagenet)), "\n")

cifar = ResNet20(preprocess="cifar10")  # option-A shortcuts, as in the paper's CIFAR experiments
print(format_profile(profile(cifar)), "\n")

for shortcut in ("A", "B", "C", None):  # paper Section 3.3; None is the plain network
    params = profile(ResNetCIFAR(20, shortcut=shortcut))["trainable_params"]
    print(f"ResNet-20 with shortcut {shortcut or 'none (plain-20)'}: {params:,} trainable parameters")

pixels = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3)).astype("float32")
probabilities = cifar.predict(pixels, verbose=0)[0]
print(
    f"\nuntrained ResNet-20 on a random image: class {probabilities.argmax()} "
    f"(p = {probabilities.max():.3f}; the ten probabilities sum to {probabilities.sum():.3f})"
)
