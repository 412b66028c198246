#!/usr/bin/env bash
# Make .ortgpu/ort.tar.xz (ignored by git): onnxruntime-gpu for a lent GPU machine that has PyTorch
# (its CUDA 13 libraries) but no onnxruntime-gpu and no network. The wheel is 256 MB and a call
# carries 64 MiB with the working tree, so measurement-only cuts: the device code of other GPU
# architectures is zeroed (scripts/fatbin_keep_arch.py; sm_90 = H100 kept byte for byte), and
# the C API library, the TensorRT plugin (no TensorRT there) and the Python extras are left out.
# About 60 MB: carry it with the weights files moved out of the tree (they are 30 MB; the bench
# needs none), e.g. `mv lightseg_ros/weights/*.safetensors /tmp/` and `git checkout` after.
# On the machine, scripts/gpu_check.sh unpacks it to /tmp/ortsite and puts that first on
# PYTHONPATH. ONNX Runtime finds CUDA through the libraries `import torch` has loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VERSION=${VERSION:-1.31.1}   # its CUDA provider links libcudart.so.13, libcublas.so.13
ARCH=${ARCH:-90}
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --platform manylinux_2_28_x86_64 -d "$work" "onnxruntime-gpu==$VERSION"
mkdir "$work/x" && (cd "$work/x" && unzip -q ../onnxruntime_gpu-*.whl)
"$PY" scripts/fatbin_keep_arch.py "$work/x/onnxruntime/capi/libonnxruntime_providers_cuda.so" --keep "$ARCH"
rm -rf "$work"/x/onnxruntime/capi/libonnxruntime.so.* "$work"/x/onnxruntime/capi/libonnxruntime_providers_tensorrt.so \
  "$work"/x/onnxruntime/{transformers,quantization,tools}
mkdir -p .ortgpu && (cd "$work/x" && tar cf - onnxruntime onnxruntime_gpu-*.dist-info) | xz -9e -T1 > .ortgpu/ort.tar.xz
ls -l .ortgpu/ort.tar.xz
