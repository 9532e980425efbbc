#!/usr/bin/env bash
# The main job on the embedded `digits` dataset (no downloads): set up, train a small model, validate, predict,
# export to ONNX and run it through the deployment runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# 8x8 digits: crop-and-flip augmentation destroys them, so train without it
yolocls train --model yolov5n-cls --data digits --imgsz 32 --epochs 10 --batch-size 64 --lr0 0.003 --no-augment \
  --name digits --exist-ok
W=runs/train/digits/weights/best.pt
yolocls val --weights "$W" --data digits --imgsz 32
VAL=$(python3 -c "from yolocls.data.dataset import resolve_dataset; print(resolve_dataset('digits') / 'val')")
yolocls predict --weights "$W" --source "$VAL/7" --topk 3 --imgsz 32
yolocls export --weights "$W" --imgsz 32
yolocls val --weights runs/train/digits/weights/best.onnx --data digits
