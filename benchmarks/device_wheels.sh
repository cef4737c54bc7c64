#!/usr/bin/env bash
# Prepares, on this machine (which reaches PyPI), the wheels a GPU machine without a
# network needs to run benchmarks/device_check.sh: the package's dependencies that its
# Python (3.12, x86-64, with torch, torchvision, timm, scikit-learn, pandas) lacks.
# They go to .whl/ (ignored by git); device_check.sh installs them into /tmp/site.
#
# Usage: bash benchmarks/device_wheels.sh [PYTHON_VERSION]   (default 3.12)
set -euo pipefail
cd "$(dirname "$0")/.."
python_version=${1:-3.12}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
mkdir -p .whl
pip=${PIP:-.venv/bin/python -m pip}
# open_clip_torch and its text cleaning (ftfy, wcwidth); faiss-cpu for the neighbour index.
$pip download -q --no-deps --only-binary=:all: --python-version "$python_version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.2.13 faiss-cpu==1.15.1
ls -l .whl
du -sh .whl
