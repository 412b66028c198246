#!/usr/bin/env bash
# Fill .whl/ (ignored by git) with what scripts/gpu_check.sh installs on a GPU machine that has
# PyTorch and Python 3.12 but no ROS 2 and no network (CONTRIBUTING.md, "On a GPU machine"):
#   .whl/wheels.tar.xz  the ros-* wheels of this checkout's .venv, rosbags and its needs
#   .whl/test/          the test extra's linters, colcon, apsw (rosbags' sqlite3 reader)
#   .whl/build/         setuptools, wheel, packaging: pip builds lightseg_ros in isolation there
# Run here, where pip reaches the package registries. About 31 MB in all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
TARGET=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --abi abi3
  --abi none --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform any)
rm -rf .whl && mkdir -p .whl/test .whl/build /tmp/lightseg_wheels && rm -rf /tmp/lightseg_wheels/*

# The ROS 2 client libraries, pinned to the versions the tests pass with here.
mapfile -t ros < <("$PY" -m pip list --format=freeze 2>/dev/null | grep -E '^ros-')
"$PY" -m pip download -q --no-deps "${TARGET[@]}" -d /tmp/lightseg_wheels "${ros[@]}" \
  "$("$PY" -m pip list --format=freeze | grep -E '^rosbags==')" lark-parser ruamel.yaml lz4 \
  backports.zstd
# xz compresses the wheels' members far better once they are stored uncompressed.
(cd /tmp/lightseg_wheels && for w in *.whl; do
  d=${w%.whl}.d && mkdir "$d" && (cd "$d" && unzip -q "../$w" && rm "../$w" && zip -q -0 -r "../$w" .) &&
    rm -rf "$d"
done && tar cJf - ./*.whl) > .whl/wheels.tar.xz

# Pure-Python test tools, less what the GPU image has (pytest, coverage, PyYAML, ...): a wheel
# built here for cp311 (coverage) would stop the whole install there.
"$PY" -m pip wheel -q -w .whl/test colcon-common-extensions 'ros-ament-flake8==0.19.2' \
  'ros-ament-pep257==0.19.2' 'flake8==7.5.0' 'flake8-blind-except==0.2.1' 'flake8-builtins==3.1.0' \
  'flake8-class-newline==1.6.0' 'flake8-comprehensions==3.17.0' 'flake8-deprecated==2.4.0' \
  'flake8-docstrings==1.7.0' 'flake8-import-order==0.19.2' 'flake8-quotes==3.4.0' \
  'pydocstyle==6.3.0' 'pytest-xdist>=3' 'pytest-timeout>=2'
rm -f .whl/test/{pytest,pytest_cov,coverage,pyyaml,PyYAML,packaging,setuptools,pluggy,iniconfig}-*.whl \
  .whl/test/{pygments,pyparsing,python_dateutil,typing_extensions}-*.whl
"$PY" -m pip download -q --no-deps "${TARGET[@]}" -d .whl/test apsw
"$PY" -m pip download -q --no-deps -d .whl/build 'setuptools<80' wheel packaging
du -sh .whl .whl/*
