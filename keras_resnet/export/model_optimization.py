"""Quantization-aware training and magnitude pruning through TensorFlow Model Optimization (TFMOT).

Magnitude pruning zeroes single weights and keeps every layer as wide as before (smaller compressed, no
faster); channel pruning, which removes whole filters, is `keras_resnet.models.channel_pruning`.

TFMOT wraps tf_keras (Keras 2) layers only, so both work on the model's tf_keras twin (same layer names,
weights copied in) and hand back what the converter needs: the QAT model itself (its fake-quant ranges
become the int8 parameters), or a Keras 3 model holding the pruned weights (copied out).
"""

from __future__ import annotations

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.models.twin import copy_weights, to_tf_keras

# Layers QAT leaves in float (and the converter quantizes from calibration): input normalisation.
_NOT_QUANTIZED = ("InputLayer", "Normalization", "Rescaling")
QAT_LR = 1e-3  # default fine-tuning learning rates: QAT starts from a trained model and must not undo it
MAGNITUDE_PRUNE_LR = 1e-2  # pruning recovers from removed weights, which takes larger steps


def finetune_data(images, batch_size: int):
    """A shuffled, flipped, batched tf.data pipeline over in-memory images for short fine-tuning."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images.x.astype(np.float32), images.y))
    data = data.shuffle(len(images), seed=0, reshuffle_each_iteration=True)
    data = data.map(lambda x, y: (tf.image.random_flip_left_right(x, seed=0), y), num_parallel_calls=tf.data.AUTOTUNE)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _compile(model, lr: float):
    import tf_keras

    model.compile(
        optimizer=tf_keras.optimizers.SGD(lr, momentum=0.9),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )


def _check_classifier(model, images):
    classes = int(model.outputs[0].shape[-1])
    if images.y.max() >= classes:
        raise UserError(
            f"The fine-tuning data has {int(images.y.max()) + 1} classes but the model outputs "
            f"{classes}. Received: labels up to {int(images.y.max())}"
        )


def quantization_aware(model, images, epochs: int, lr: float = QAT_LR, batch_size: int = 64, verbose=1):
    """Fine-tune `model` with fake quantization; returns the tf_keras QAT model ready for int8 conversion."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    _check_classifier(model, images)
    twin = to_tf_keras(model)
    annotate = tfmot.quantization.keras.quantize_annotate_layer

    def mark(layer):
        return layer if layer.__class__.__name__ in _NOT_QUANTIZED else annotate(layer)

    annotated = tf_keras.models.clone_model(twin, clone_function=mark)  # wraps the twin's layers: weights kept
    with tfmot.quantization.keras.quantize_scope():
        qat = tfmot.quantization.keras.quantize_apply(annotated)
    _compile(qat, lr)
    qat.fit(finetune_data(images, batch_size), epochs=epochs, verbose=verbose)
    return qat


def _prunable(layer) -> bool:
    return layer.__class__.__name__ in ("Conv2D", "Dense") and layer.trainable


def magnitude_prune(
    model,
    images,
    sparsity: float,
    epochs: int,
    lr: float = MAGNITUDE_PRUNE_LR,
    batch_size: int = 64,
    two_four: bool = False,
    verbose=1,
):
    """Magnitude-prune conv and dense kernels to `sparsity` (polynomial schedule) while fine-tuning.

    With `two_four`, kernels are pruned 2:4 (two zeros in every four weights), the structured sparsity
    some accelerators exploit. Returns a Keras 3 copy of `model` holding the pruned, fine-tuned weights.
    """
    import tensorflow_model_optimization as tfmot
    import tf_keras

    if not 0.0 <= sparsity < 1.0:
        raise UserError(f"sparsity must be in [0, 1), e.g. 0.5. Received: sparsity={sparsity}")
    _check_classifier(model, images)
    sparsity_api = tfmot.sparsity.keras
    steps = epochs * int(np.ceil(len(images) / batch_size))
    if two_four:
        params = {"sparsity_m_by_n": (2, 4)}
    else:
        params = {
            "pruning_schedule": sparsity_api.PolynomialDecay(
                initial_sparsity=0.0, final_sparsity=sparsity, begin_step=0, end_step=max(1, steps - 1), frequency=1
            )
        }

    def wrap(layer):
        return sparsity_api.prune_low_magnitude(layer, **params) if _prunable(layer) else layer

    twin = to_tf_keras(model)
    pruned = tf_keras.models.clone_model(twin, clone_function=wrap)
    _compile(pruned, lr)
    pruned.fit(
        finetune_data(images, batch_size), epochs=epochs, verbose=verbose, callbacks=[sparsity_api.UpdatePruningStep()]
    )
    stripped = sparsity_api.strip_pruning(pruned)
    import keras

    result = keras.models.clone_model(model)
    result.set_weights(model.get_weights())
    copy_weights(stripped, result)
    return result
