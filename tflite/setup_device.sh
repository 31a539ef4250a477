#!/bin/sh
# Install the resnet-tflite benchmark harness on a Raspberry Pi, a Coral Dev Board or any Linux/macOS
# machine, without TensorFlow: a virtual environment with NumPy, ai-edge-litert (LiteRT), Pillow and
# this package.
#
#   sh setup_device.sh [VENV_DIR] [PACKAGE]
#
# VENV_DIR defaults to ~/resnet-tflite; PACKAGE to "resnet-tflite[device]" (PyPI). To install from a
# checkout or a wheel copied from the workstation, pass it with the extra: "./resnet-tflite[device]" or
# "resnet_tflite-0.1.0-py3-none-any.whl[device]". PYTHON picks the interpreter (default python3).
# Running it again upgrades the package in place.
set -eu
VENV=${1:-$HOME/resnet-tflite}
PACKAGE=${2:-resnet-tflite[device]}
PYTHON=${PYTHON:-python3}

"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$PACKAGE"
"$VENV/bin/python" -c "import keras_resnet.bench, keras_resnet.lite.runtime as r; print('harness ready:', r.runtime_version())"

# Hints for steady timings and the Edge TPU; nothing below changes the system.
for gov in /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do
  [ -r "$gov" ] || continue
  if [ "$(cat "$gov")" != performance ]; then
    echo "note: CPU governor is $(cat "$gov"); for stable timings run:"
    echo "  echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"
    break
  fi
done
if [ -e /dev/apex_0 ] || { command -v lsusb >/dev/null && lsusb | grep -qiE '1a6e:089a|18d1:9302'; }; then
  if ! ldconfig -p 2>/dev/null | grep -q libedgetpu.so.1; then
    echo "note: a Coral Edge TPU is attached but libedgetpu.so.1 is missing: install the Edge TPU runtime"
    echo "  (Debian package libedgetpu1-std from Coral's apt repository, see tflite/README.md)"
  fi
fi
echo "run: $VENV/bin/python -m keras_resnet.bench MODEL.tflite --json result.json"
