#!/usr/bin/env bash
# Everything a first GPU run should measure, in one call of at most --budget seconds
# (default 480: 8 minutes), each figure a ratio measured in the same run:
#
#   1. gpu_training_step.md  the training step with autocast against a bare forward +
#                            backward of the same model (bench_deft_speed.py; goal <= 1.15)
#   2. gpu_embedder.md       ImageEmbedder against a bare forward pass from JPEG files with
#                            DataLoader workers (goal >= 0.9), and the embedding cache's speed-up
#   3. gpu_deft_epoch.md     one DEFT epoch of each phase on ViT-B/16 (random weights, batch 64)
#   4. gpu_cuda_tests.md     pytest -m cuda (tests/test_cuda.py)
#   5. gpu_summary.md        each step's status and time, and the goals met or missed
#   (gpu_device_check.log holds every step's output.)
#
# Usage:
#   bash benchmarks/device_check.sh [--out DIR] [--budget SECONDS] [--dry-run]
#
# On a GPU machine whose Python lacks some of the package's dependencies (open_clip_torch,
# ftfy, faiss-cpu...), benchmarks/device_wheels.sh prepares them here as wheels in .whl/;
# this script installs them into /tmp/site when .whl/ exists. The package itself is used
# from this checkout (PYTHONPATH), without installing it.
#
# --dry-run checks the plumbing on the CPU: the tiny model, a few images, the cuda tests
# rehearsed on the CPU (SKCLIP_NOISE_CUDA_REHEARSAL=1), results to a temporary folder
# unless --out is given. Every step runs under `timeout` with what is left of the budget,
# so the script ends within it; a step cut short is reported as such.
set -uo pipefail
cd "$(dirname "$0")/.."

out="" budget=480 dry_run=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --budget) budget="$2"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "device_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$budget" in ''|*[!0-9]*) echo "device_check.sh: --budget must be whole seconds; got $budget" >&2; exit 2 ;; esac

python=${PYTHON:-}
if [ -z "$python" ]; then
    if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "device_check.sh: could not install the wheels in .whl/" >&2; exit 2; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1

if [ "$dry_run" = 1 ]; then
    export SKCLIP_NOISE_CUDA_REHEARSAL=1
    backbone=open_clip:skclip-tiny device=cpu images=64 workers=2 steps=2 batch=16
    pytest_selection=(-m cuda -k "trainer_step or cache_is_shared or (full_precision and ImageEmbedder)")
    [ -n "$out" ] || out=$(mktemp -d)
else
    backbone=open_clip:ViT-B-16 device=cuda images=4096 workers=$(( $(nproc) < 8 ? $(nproc) : 8 )) steps=10 batch=64
    pytest_selection=(-m cuda)
    [ -n "$out" ] || out=benchmarks/results
    if ! "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        echo "device_check.sh: torch sees no CUDA device here; run it on a GPU machine, or --dry-run on a CPU" >&2
        exit 2
    fi
fi
mkdir -p "$out"
log="$out/gpu_device_check.log"
: >"$log"
deadline=$((SECONDS + budget))
statuses=()

# run_step NAME SECONDS COMMAND...: runs COMMAND with at most SECONDS, or what is left of
# the budget (less a margin for the summary), logging its output; records its status.
run_step() {
    local name=$1 limit=$2; shift 2
    local left=$((deadline - SECONDS - 15))
    [ "$limit" -le "$left" ] || limit=$left
    if [ "$limit" -lt 10 ]; then
        statuses+=("| $name | not run: the budget was spent | 0 |")
        return
    fi
    local start=$SECONDS rc
    echo "=== $name (at most ${limit}s): $*" >>"$log"
    timeout -k 10 "$limit" "$@" >>"$log" 2>&1
    rc=$?
    local status="passed"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status="stopped at its ${limit}s limit"
    elif [ "$rc" != 0 ]; then status="failed (exit $rc)"; fi
    statuses+=("| $name | $status | $((SECONDS - start)) |")
    echo "=== $name: $status in $((SECONDS - start))s" >>"$log"
}

{
    echo "# Device check: environment"; echo
    "$python" - <<'EOF'
import importlib.metadata as metadata, platform, torch
print(f"Python {platform.python_version()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"devices: {[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}")
for name in ("torchvision", "open_clip_torch", "timm", "scikit-learn", "numpy", "pandas", "faiss-cpu"):
    try:
        print(f"{name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(f"{name}: missing (benchmarks/device_wheels.sh prepares it)")
EOF
} >>"$log" 2>&1

run_step "training step (autocast) against bare" 120 \
    "$python" benchmarks/bench_deft_speed.py --backbone "$backbone" --batch-size "$batch" --steps "$steps" \
    --out "$out/gpu_training_step.md"
run_step "embedder against bare, cache" 100 \
    "$python" benchmarks/bench_device.py embedder --backbone "$backbone" --device "$device" --n-images "$images" \
    --batch-size "$batch" --workers "$workers" --out "$out/gpu_embedder.md"
run_step "DEFT epoch" 100 \
    "$python" benchmarks/bench_device.py deft-epoch --backbone "$backbone" --device "$device" \
    --n-images $((images / 2)) --batch-size "$batch" --out "$out/gpu_deft_epoch.md"
run_step "cuda tests" 240 \
    "$python" -m pytest "${pytest_selection[@]}" -q -p no:cacheprovider -rs --junitxml="$out/cuda_tests.xml"
if [ -f "$out/cuda_tests.xml" ]; then
    "$python" benchmarks/device_check_summary.py tests "$out/cuda_tests.xml" >"$out/gpu_cuda_tests.md" \
        && rm -f "$out/cuda_tests.xml"
fi
printf '%s\n' "${statuses[@]}" >"$out/steps.txt"
"$python" benchmarks/device_check_summary.py summary "$out" "$log" $([ "$dry_run" = 1 ] && echo --dry-run) \
    >"$out/gpu_summary.md"
rm -f "$out/steps.txt"
cat "$out/gpu_summary.md"
# Fails when a step failed or was cut short; the goals' verdicts are in the summary.
! grep -q -e "failed (exit" -e "stopped at its" -e "not run:" "$out/gpu_summary.md"
