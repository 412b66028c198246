#!/usr/bin/env bash
# Training runs side by side on a lent GPU machine (CONTRIBUTING.md, "Training on a lent GPU"): each job
# is `lightseg train CONFIG [ARGS]` with --resume auto, stopped after LIMIT_S seconds and continued by
# the next call while the machine is still warm (runs/ is kept between calls then). Each job's log,
# summary.json and, once finished, final weights go to $OUT/<name>/.
#   JOBS='v2_0006R0=config/train/holdout/x.yaml;kd=config/train/holdout/y.yaml --set distill.teacher=mlff_mobilenetv2' \
#   DATA=.data/camvid_jpg LIMIT_S=540 bash scripts/gpu_train.sh
# DATA: a dataset root carried with the call (scripts/pack_camvid.py writes a 40 MiB JPEG copy of CamVid).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/lightseg_train}
DATA=${DATA:-.data/camvid_jpg}
LIMIT_S=${LIMIT_S:-540}
WORKERS=${WORKERS:-3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$OUT/machine.txt"

IFS=';' read -r -a jobs <<< "${JOBS:?set JOBS=name=config [args];...}"
names=()
for job in "${jobs[@]}"; do
  name=${job%%=*} && spec=${job#*=}
  read -r -a args <<< "$spec"
  names+=("$name")
  mkdir -p "$OUT/$name"
  echo "=== $name: ${args[*]}"
  timeout --signal=INT "$LIMIT_S" python3 -m lightseg_ros.cli train --config "${args[@]}" \
    --data "$DATA" --output-dir "runs/gpu/$name" --workers "$WORKERS" --resume auto --no-progress \
    >> "$OUT/$name/train.log" 2>&1 &
done
wait
for name in "${names[@]}"; do
  run=runs/gpu/$name
  cp "$run/summary.json" "$OUT/$name/" 2>/dev/null
  cp "$run/model_final.safetensors" "$OUT/$name/" 2>/dev/null
  echo "--- $name: $(tail -n 1 "$OUT/$name/train.log")"
done
