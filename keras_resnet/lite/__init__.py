"""`.tflite` files without TensorFlow: the flatbuffer reader and metadata, the LiteRT and TFLite-Micro runtimes,
the safety gate every file from elsewhere passes, the Edge TPU preflight and compiler driver, TFLite-Micro
export. NumPy and the TFLite runtimes only, so that devices run it (an import contract holds this)."""
