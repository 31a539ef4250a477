#!/bin/sh
# The real run: ResNet-20 on CIFAR-10 (JPEG), short-budget recipe, 50 epochs: ~75 minutes on a quiet 2-core
# AVX512-BF16 CPU (~90 s per epoch, as the release run's first epochs took; the rest shared the cores).
# Keeps the trained model as the release artifact tflite/reference/resnet20_cifar10_jpg.keras: the *last*
# epoch's model, since the per-epoch validation split is the test split and picking the best on it would
# flatter the figure.
#
#   sh tools/train_cifar10.sh                 # fresh run into runs/resnet20-cifar10-jpg
#   sh tools/train_cifar10.sh --resume        # after a crash or kill: continues from the last epoch
#   EPOCHS=20 sh tools/train_cifar10.sh       # a smaller budget on a slower or busier machine
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=.cache/cifar10-jpg
RUN=${RUN:-runs/resnet20-cifar10-jpg}
if [ ! -f "$DATA/.complete" ]; then
    echo "Extracting ../shared/data/cifar10-jpg.tar.gz into $DATA ..." >&2
    mkdir -p "$DATA" && tar xzf ../shared/data/cifar10-jpg.tar.gz -C "$DATA" && touch "$DATA/.complete"
fi
start=$(date +%s)
"$PY" -c "from keras_resnet.cli import train_main; train_main()" resnet20 \
    --data "folder:$DATA" --out "$RUN" --recipe cifar \
    --epochs "${EPOCHS:-50}" --schedule onecycle --lr 0.2 --nesterov --weight-decay 5e-4 "$@"
echo "wall time: $(( $(date +%s) - start )) s (this session)" >&2
mkdir -p tflite/reference
cp "$RUN/last.keras" tflite/reference/resnet20_cifar10_jpg.keras
for f in metrics.json config.json history.csv; do cp "$RUN/$f" "tflite/reference/resnet20_cifar10_jpg.$f"; done
cp "$RUN/curves.png" docs/img/resnet20_cifar10_jpg_curves.png
