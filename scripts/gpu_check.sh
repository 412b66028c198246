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
STEPS=${STEPS:-suite,bench,latency,variants,profile}  # which of the steps below to run (also: ort,
# latency_ab, warm_up, compiled, compile_cache, tests)
step() { echo "=== $1 ($(date +%T))"; }
want() { [[ ",$STEPS," == *",$1,"* ]]; }

step machine
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/machine.txt"
python3 -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)' |
  tee -a "$OUT/machine.txt"
python3 -c 'import onnxruntime as o; print("onnxruntime", o.__version__, o.get_available_providers())' |
  tee -a "$OUT/machine.txt"

if ! python3 -c 'import rclpy.serialization' 2>/dev/null && [ -f .whl/wheels.tar.xz ]; then
  step 'ROS 2 wheels'
  # into the interpreter's own prefix: the wheels' bootstrap finds their libraries there
  mkdir -p /tmp/wheels && tar xJf .whl/wheels.tar.xz -C /tmp/wheels &&
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir /tmp/wheels/*.whl
fi
if ! python3 -c 'import flake8_quotes, colcon_core, apsw, xdist, pytest_timeout' 2>/dev/null &&
  [ -d .whl/test ]; then
  # pytest.ini's --timeout needs pytest-timeout, the suite's 12 workers pytest-xdist
  step 'wheels the tests need (linters, colcon, apsw for rosbags, pytest-xdist, pytest-timeout)'
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/test/*.whl
fi
BIN=$(dirname "$(python3 -c 'import sys; print(sys.executable)')")
if [ ! -x "$BIN/lightseg" ]; then
  # The tests look for the console scripts beside the interpreter. A build in isolation puts them
  # there. With --no-build-isolation, setuptools' develop path honours setup.cfg's script_dir (the
  # lib/lightseg_ros folder `ros2 run` reads), and they went to $prefix/lib/lightseg_ros instead
  # (two tests failed on 2026-11-26). The build's own needs travel in .whl/build.
  step 'lightseg_ros itself, editable (the console scripts the tests run)'
  # --isolated: pip's configuration there is not read (on 2026-11-27 something there turned
  # isolation off, and setuptools >= 80 refused setup.cfg's develop.script_dir)
  python3 -m pip install -q --isolated --no-index --find-links .whl/build --no-deps -e . 2>&1 |
    tail -5
fi
if [ ! -x "$BIN/lightseg" ]; then
  step "console scripts written by hand (pip did not install them)"
  # each runs its entry point from this checkout (PYTHONPATH below)
  python3 - "$BIN" <<'PY'
import pathlib
import re
import sys

text = pathlib.Path('setup.py').read_text()
for name, module, func in re.findall(r"'([\w-]+) = ([\w.]+):(\w+)'", text):
    script = pathlib.Path(sys.argv[1]) / name
    script.write_text(
        f'#!{sys.executable}\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n'
    )
    script.chmod(0o755)
    print(script)
PY
fi
export PYTHONPATH=$PWD
if [ -f .ortgpu/ort.tar.xz ]; then
  step 'onnxruntime-gpu from .ortgpu/ort.tar.xz (scripts/ort_gpu_carry.sh)'
  [ -d /tmp/ortsite/onnxruntime ] || { mkdir -p /tmp/ortsite &&
    python3 -c "import tarfile; tarfile.open('.ortgpu/ort.tar.xz').extractall('/tmp/ortsite')"; }
  export PYTHONPATH=/tmp/ortsite:$PWD
  python3 -c 'import onnxruntime as o; print("onnxruntime", o.__version__, o.get_available_providers())' |
    tee -a "$OUT/machine.txt"
fi
python3 -c 'import rclpy.serialization, sensor_msgs.msg, rosbags; print("ROS 2 imports")' |
  tee -a "$OUT/machine.txt"

# 12 workers where pytest-xdist is there; else one (far slower: give it SUITE_S)
WORKERS=$(python3 -c 'import xdist' 2>/dev/null && echo '-n 12 --dist loadfile')
want suite && step "the whole suite, ${WORKERS:-one worker (no pytest-xdist)}" &&
timeout ${SUITE_S:-210} python3 -m pytest -q -p no:cacheprovider $WORKERS -rs 2>&1 |
  tee "$OUT/pytest_full.txt" | tail -30

want tests && step 'CUDA tests' &&
timeout 200 python3 -m pytest -q -p no:cacheprovider test/test_cuda.py test/test_backends.py \
  test/test_segmenter.py test/test_wire.py test/test_fusion.py 2>&1 | tee "$OUT/pytest.txt" | tail -25

want bench && step 'bench, all models, CUDA graphs on and off' &&
timeout 150 python3 -m lightseg_ros.cli bench --device cuda --models all --backends torch \
  --sizes 360x480,512x512,480x640 --cuda-graphs both --warmup 20 --iters 100 --rounds 3 \
  --node --node-frames 100 --out "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench.txt" | tail -40
# ONNX Runtime's CUDA provider: its logits against PyTorch's on the CPU (random weights: the
# weights files stay behind when .ortgpu travels), then every model beside the torch backend.
want ort && step "ONNX Runtime's CUDA provider" && timeout 120 python3 - <<'PY' 2>&1 | tee "$OUT/ort_check.txt"
import torch

from lightseg_ros.inference.segmenter import Segmenter

torch.manual_seed(1)
x = torch.randn(1, 3, 360, 480)
for name in ('ghostnet_aspp_da', 'mlff_mobilenetv2', 'deeplabv3plus_mobilenetv2'):
    made = []
    for device, backend in (('cpu', 'torch'), ('cuda', 'onnxruntime')):
        torch.manual_seed(0)  # the same random weights in both
        made.append(Segmenter(None, model=name, num_classes=11, device=device, backend=backend))
    with torch.inference_mode():
        a = made[0].backend(x).float()
        b = made[1].backend(x.to(made[1].device)).float().cpu()
    print(f'{name:26s} {made[1].backend.description}: max |logit difference| '
          f'{(a - b).abs().max().item():.1e} (logits\' std {a.std().item():.1e}), '
          f'argmax agrees on {(a.argmax(1) == b.argmax(1)).float().mean().item():.2%}')
PY
want ort && timeout 330 python3 -m lightseg_ros.cli bench --device cuda --models all \
  --backends torch,onnxruntime --sizes 360x480,512x512,480x640 --warmup 20 --iters 100 --rounds 3 \
  --out "$OUT/bench_ort.json" 2>&1 | tee "$OUT/bench_ort.txt" | tail -24

want latency && step 'the node on CUDA, 640x480' &&
timeout 80 python3 -m lightseg_ros.cli node-latency --device cuda --frames ${LATENCY_FRAMES:-490} --warmup 10 \
  --json "$OUT/node_latency.json" 2>&1 | tee "$OUT/node_latency.txt" | tail -12

# The node warmed up for the frame's size when it loads the model (warmup_image_size): its first
# frame against the latency step's, which pays the CUDA graph's capture (2.6 s in the third lease)
want warm_up && step 'the node on CUDA, warmed up for 640x480 at load' &&
timeout 80 python3 -m lightseg_ros.cli node-latency --device cuda --warm-up --frames 100 --warmup 10 \
  --json "$OUT/node_latency_warm.json" 2>&1 | tee "$OUT/node_latency_warm.txt" | tail -12

# Where the node's tail beyond segment() comes from: the same measurement with the interpreter's
# GIL hand-over interval cut from 5 ms to 0.5 ms, then with the cyclic garbage collector off, each
# set in every process of the run (node included) by a sitecustomize module on PYTHONPATH.
if want latency_ab; then
  step "the node's tail: the GIL switch interval, the garbage collector"
  for variant in 'switch interval 0.5 ms=import sys; sys.setswitchinterval(0.0005)' \
    'garbage collector off=import gc; gc.disable()'; do
    dir=$(mktemp -d) && echo "${variant#*=}" > "$dir/sitecustomize.py"
    echo "--- ${variant%%=*}" | tee -a "$OUT/latency_ab.txt"
    PYTHONPATH=$dir:$PYTHONPATH timeout 80 python3 -m lightseg_ros.cli node-latency --device cuda \
      --frames ${LATENCY_FRAMES:-490} --warmup 10 2>&1 | tee -a "$OUT/latency_ab.txt" | tail -8
  done
fi

want compiled && step 'torch.compile: ghostnet and the peer at 512x512, then the node at 640x480' &&
timeout 100 python3 -m lightseg_ros.cli bench --device cuda --models ghostnet_aspp_da --backends torch \
  --sizes 512x512 --torch-compile --warmup 20 --iters 300 --rounds 3 --out "$OUT/bench_compile.json" \
  2>&1 | tee "$OUT/bench_compile.txt" | tail -8
want compiled && timeout 100 python3 -m lightseg_ros.cli node-latency --device cuda --torch-compile --frames 300 \
  --warmup 10 --json "$OUT/node_latency_compile.json" 2>&1 | tee "$OUT/node_latency_compile.txt" | tail -8

# The node's first frame with torch_compile: compiled into an empty lightseg cache, then in a new
# process that finds it full (Inductor's folder, torchinductor/ in $LIGHTSEG_CACHE).
if want compile_cache; then
  step 'torch.compile: first frame with an empty cache, then in a new process with it full'
  cache=$(mktemp -d)
  for run in empty full; do
    LIGHTSEG_CACHE=$cache timeout 150 python3 - "$run" <<'PY' 2>&1 | tee -a "$OUT/compile_cache.txt"
import sys
import time

import numpy as np

from lightseg_ros.inference.segmenter import Segmenter

t = time.perf_counter()
seg = Segmenter(None, model='ghostnet_aspp_da', device='cuda', backend='torch', torch_compile=True)
frame = np.zeros((480, 640, 3), np.uint8)
built = time.perf_counter() - t
t = time.perf_counter()
seg.segment(frame)
first = time.perf_counter() - t
t = time.perf_counter()
seg.segment(frame)
print(f'cache {sys.argv[1]}: segmenter built in {built:.1f} s, first frame {first:.1f} s, '
      f'second {1e3 * (time.perf_counter() - t):.1f} ms; {seg.backend.description}, '
      f'cache {seg.backend.compile_cache}')
PY
  done
fi

want variants && step 'network at 512x512: eager, folded batch norms, CUDA graphs, torch.compile' &&
timeout 100 python3 - <<'PY' 2>&1 | tee "$OUT/variants.txt"
import time

import torch

from lightseg_ros.inference.backends import TorchBackend
from lightseg_ros.models import load_model, shipped_weights

dev = torch.device('cuda')
x = torch.randn(1, 3, 512, 512, device=dev)


def latency_ms(fn, n=300):  # each call waited for: batch-1 latency
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[n // 2] * 1e3


def throughput(fn, n=1000):  # calls back to back, one wait at the end: frames/s at batch 1
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


variants = [
    ('eager', dict(cuda_graphs=False, fold_batchnorms=False), False),
    ('eager, folded', dict(cuda_graphs=False, fold_batchnorms=True), False),
    ('graphs', dict(cuda_graphs=True, fold_batchnorms=False), False),
    ('graphs, folded (default)', dict(cuda_graphs=True, fold_batchnorms=True), False),
    ('graphs, folded, torch.compile', dict(cuda_graphs=True, fold_batchnorms=True), True),
]
for name in ('ghostnet_aspp_da', 'mlff_mobilenetv2', 'deeplabv3plus_mobilenetv2'):
    for label, options, compiled in variants:
        if compiled and name != 'ghostnet_aspp_da':
            continue
        backend = TorchBackend(load_model(shipped_weights(name))[0], dev, torch.float16, **options)
        if compiled:
            backend.model = torch.compile(backend.model)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for _ in range(20):
                backend(x)
            torch.cuda.synchronize()
            warm = time.perf_counter() - t0
            p50 = latency_ms(lambda: backend(x))
            fps = throughput(lambda: backend(x))
        print(f'{name:26s} {label:30s} p50 {p50:6.3f} ms  {fps:7.0f} frames/s  '
              f'(first 20 calls {warm:.1f} s, {backend.folded_batchnorms} batch norms folded)')
PY

want profile && step 'profile of segment() at 480x640' &&
timeout 45 python3 - <<'PY' 2>&1 | tee "$OUT/profile.txt"
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
