#!/usr/bin/env bash
# Create .venv in the checkout with everything lightseg_ros needs on a machine without ROS 2:
# torch/torchvision (pinned to the build this project is tested with), the ROS 2 Kilted wheels from
# PyPI, and the package itself (editable). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
# torch first, pinned: a looser request could pull a different multi-GB build.
# (this machine's pip lists local index folders that warn once per package: filtered out)
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet "${PIP[@]}" "torch==${TORCH_VERSION:-2.14.1}" "torchvision==${TORCHVISION_VERSION:-0.29.1}"
quiet "${PIP[@]}" -e ".[ros,train,export,test]"
touch "$VENV/.lightseg-installed"
echo "lightseg_ros installed in $VENV"
