#!/usr/bin/env bash
# The CUDA checks in one run, for a GPU machine that has PyTorch but no ROS 2 (CONTRIBUTING.md,
# "On a GPU machine"): the CUDA tests, a profile of segment(), `lightseg bench --device cuda` for
# every model with and without CUDA graphs and the peer, and the node's end-to-end latency on CUDA.
# ROS 2 comes from wheels carried in .whl/wheels.tar.xz when the machine has none. Each step has
# its own time limit and writes to $OUT; a failing step does not stop the next.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/lightseg_gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
step() { echo "=== $1 ($(date +%T))"; }

step machine
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/machine.txt"
python3 -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)' |
  tee -a "$OUT/machine.txt"
python3 -c 'import onnxruntime as o; print("onnxruntime", o.__version__, o.get_available_providers())' |
  tee -a "$OUT/machine.txt"

if ! python3 -c 'import rclpy' 2>/dev/null && [ -f .whl/wheels.tar.xz ]; then
  step 'ROS 2 wheels'
  mkdir -p /tmp/wheels /tmp/sitecustom
  tar xJf .whl/wheels.tar.xz -C /tmp/wheels &&
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --target /tmp/rossite /tmp/wheels/*.whl
  # .pth files (the ROS wheels' bootstrap) are read only in site directories
  echo "import site; site.addsitedir('/tmp/rossite')" >/tmp/sitecustom/sitecustomize.py
  export PYTHONPATH=/tmp/sitecustom
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
python3 -c 'import rclpy, rosbags; print("rclpy and rosbags import")' | tee -a "$OUT/machine.txt"

step 'CUDA tests'
timeout 200 python3 -m pytest -q -p no:cacheprovider test/test_cuda.py test/test_backends.py \
  test/test_segmenter.py test/test_wire.py 2>&1 | tee "$OUT/pytest.txt" | tail -25

step 'bench, all models, CUDA graphs on and off'
timeout 240 python3 -m lightseg_ros.cli bench --device cuda --models all --backends torch \
  --sizes 360x480,512x512,480x640 --cuda-graphs both --warmup 20 --iters 100 --rounds 5 \
  --node --node-frames 100 --out "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench.txt" | tail -40
step 'profile of segment() at 480x640'
timeout 60 python3 - <<'PY' 2>&1 | tee "$OUT/profile.txt"
import time

import torch
from torch.profiler import profile, ProfilerActivity

from lightseg_ros.inference import Segmenter
from lightseg_ros.models import shipped_weights
from lightseg_ros.sources import road_scene

image = road_scene(640, 480)[0]
for graphs in (False, True):
    seg = Segmenter(shipped_weights('ghostnet_aspp_da'), device='cuda', cuda_graphs=graphs)
    for _ in range(30):
        seg.segment(image)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(200):
        seg.segment(image)
    wall = (time.perf_counter() - t0) / 200 * 1e3
    print(f'{seg.backend.description}: segment() {wall:.3f} ms per 640x480 frame, mean of 200')
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(20):
            seg.segment(image)
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by='self_cuda_time_total', row_limit=12))
PY

step done
