"""Where each registered CIFAR net stands against common microcontroller boards, as int8 for TFLite-Micro.

    .venv/bin/python tools/micro_budgets.py            # a Markdown table, ~3 minutes on 2 cores

Converts each CIFAR net (random weights: sizes do not depend on them) to int8, then measures its flash (the
model's bytes) and tensor arena (the smallest that works in the tflite-micro interpreter, plus the 10%
margin `resnet-tflite micro` reserves) against `keras_resnet.micro.BOARDS`. ResNet-1202 is left out: its
19.4M int8 weights alone exceed every board listed. The runtime code and the application come on top.
"""
from __future__ import annotations

import numpy as np

from keras_resnet.export import convert
from keras_resnet.lite import micro
from keras_resnet.models import specs
from keras_resnet.models.builders import create_model


def main():
    calibration = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype(np.float32)
    boards = [label.split(" (")[0] for label, *_ in micro.BOARDS]
    print("| model | flash (model) | RAM (arena + 10%) | " + " | ".join(boards) + " |")
    print("|---|--:|--:|" + "---|" * len(boards))
    for name in specs.list_models():
        if specs.REGISTRY[name].family != "cifar" or name == "resnet1202":
            continue
        model = create_model(name, preprocess="cifar10")
        result = micro.budget(convert.convert_keras(model, "int8", convert.representative_from(calibration)))
        fits = " | ".join("fits" if b["fits"] else "no" for b in result["boards"])
        print(f"| {name} | {result['flash_bytes']:,} | {result['arena']['recommended_bytes']:,} | {fits} |",
              flush=True)


if __name__ == "__main__":
    main()
