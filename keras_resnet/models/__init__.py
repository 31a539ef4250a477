"""The networks: the spec table (the paper's Table 1 and the 6n+2 rule), blocks and builders, the profiler,
the tf_keras twin, weight files and channel pruning; `loading` says what a model argument names and opens it.
Keras 3; nothing here trains, converts or runs on a device."""

__all__ = [
    "blocks",
    "builders",
    "channel_pruning",
    "download",
    "graph",
    "loading",
    "pretrained",
    "profiler",
    "saving",
    "specs",
    "twin",
    "weights",
]
