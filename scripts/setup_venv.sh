#!/usr/bin/env bash
# Create .venv in the checkout with everything lightseg_ros needs on a machine without ROS 2:
# torch/torchvision (pinned to the build this project is tested with), the ROS 2 Kilted wheels from
# PyPI, and the package itself (editable). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# a .venv that cannot run pip (python3 -m venv failed half-way where python3-venv is missing, and
# left bin/python behind) or that another Python made is made again, not reused: it failed every
# later run with "No module named pip"
wanted=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -x "$VENV/bin/python" ]; then
  have=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
  if [ "$have" != "$wanted" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    echo "$VENV is broken or made by another Python (${have:-none}, want $wanted): making it again"
    "$PYTHON" -m venv --clear "$VENV"
  fi
else
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
