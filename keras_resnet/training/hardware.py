"""What a run computes on: the mixed-precision policy and the tf.distribute strategy, and which process writes.

TensorFlow is imported only when a choice is made, so the command line reads the options from here.
"""

from __future__ import annotations

import json
import os

from keras_resnet.device import sysinfo
from keras_resnet.errors import UserError

POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
MIXED_PRECISION = ("auto", *POLICIES)
STRATEGIES = ("auto", "mirrored", "multiworker")


def choose_policy(mode: str = "auto") -> str:
    """The Keras dtype policy for `mode` (auto|off|bf16|fp16).

    auto: mixed_bfloat16 on GPUs of compute capability >= 8.0 and on CPUs with native bfloat16
    (AVX512_BF16 or AMX: measured 1.5-2.5x faster than float32 for ResNet-20 on an AVX512_BF16 CPU),
    mixed_float16 on older GPUs of capability >= 7.0, float32 otherwise.
    """
    if mode in POLICIES:
        return POLICIES[mode]
    if mode != "auto":
        raise UserError(f"mixed_precision must be one of {MIXED_PRECISION}. Received: mixed_precision={mode!r}")
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = min(tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)) for g in gpus)
        return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16" if capability >= (7, 0) else "float32"
    return "mixed_bfloat16" if sysinfo.cpu_flags() & {"avx512_bf16", "amx_bf16"} else "float32"


def choose_strategy(mode: str = "auto"):
    """The tf.distribute strategy for `mode`. auto: multi-worker when TF_CONFIG names several tasks,
    mirrored on several GPUs, else the default."""
    import tensorflow as tf

    if mode not in STRATEGIES:
        raise UserError(f"strategy must be one of {STRATEGIES}. Received: strategy={mode!r}")
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    tasks = sum(len(v) for v in cluster.values())
    if mode == "multiworker" or (mode == "auto" and tasks > 1):
        if not tasks:
            raise UserError(
                "strategy='multiworker' needs TF_CONFIG (cluster and task) in the environment. "
                "Received: strategy='multiworker' with TF_CONFIG unset"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if mode == "mirrored" or len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy) -> bool:
    """Whether this process writes the run dir: the chief, or worker 0 of a cluster without one."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)
