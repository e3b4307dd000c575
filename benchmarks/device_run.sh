#!/usr/bin/env bash
# One short GPU session: the benchmarks and the gpu-marked tests, under a hard time limit.
#
# Run from the repository root on a fresh GPU machine whose python3 already has torch,
# torchvision, numpy, pandas, matplotlib, pytest, pytest-timeout and pytest-xdist. What it
# lacks comes as wheels carried in .whl/ (see benchmarks/RESULTS.md, "Re-running on a GPU",
# for how they are made), the reference BalPoE checkout in .reference/ (never committed).
# Everything it writes goes to $OUT (at most 8 files):
#   device_log.txt         the whole console output
#   bench_overhead.json    benchmarks/trainer_overhead.py on CUDA
#   bench_reference.json   benchmarks/reference_balpoe.py on CUDA
#   recipe_smoke.json      `ltlab train balpoe-cifar100-lt-ir100 --epochs 3` on CUDA
#   gpu_tests.xml          junit report of `pytest -m gpu tests/test_gpu.py`
#   executed_notebooks.tar.gz   the notebooks as papermill executed them at full size
#
# BUDGET (seconds, default 470) bounds the whole script; each stage gets a slice and the
# GPU tests get what is left.
set -u
START=$(date +%s)
BUDGET=${BUDGET:-470}
OUT=${OUT:-/tmp/ltlab-device-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/device_log.txt") 2>&1
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
stage() { echo; echo "=== $1 (t=$(( $(date +%s) - START ))s, $(left)s left)"; }

stage "install carried wheels"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || { echo "wheel install failed"; exit 1; }
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=2
REF_EXTRA=""
if python3 -c "import pandas, sys; sys.exit(int(pandas.__version__.split('.')[0]) < 3)"; then
    # the reference's MetricTracker writes into DataFrame.values, which pandas >= 3 forbids
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target /tmp/refsite .whl/ref/*.whl && REF_EXTRA="--extra-path /tmp/refsite"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv
python3 - <<'EOF'
import platform, torch, torchvision, numpy, pandas, papermill, nbval, ltlab
print(f"python {platform.python_version()}, torch {torch.__version__}, torchvision "
      f"{torchvision.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}, "
      f"papermill {papermill.__version__}, nbval {nbval.__version__}")
assert torch.cuda.is_available(), "no CUDA"
print(torch.cuda.get_device_name(0), "cudnn", torch.backends.cudnn.version())
EOF
[ $? -eq 0 ] || { echo "environment check failed"; exit 1; }

stage "fake CIFAR-100 files (full size, random pixels)"
python3 -c "from ltlab.data import write_fake_cifar; write_fake_cifar('/tmp/cifar', 100, test_per_class=100)"

stage "benchmark 1: trainer overhead (fit vs bare loop vs DataLoader+PIL)"
timeout 170 python3 benchmarks/trainer_overhead.py --device cuda --data /tmp/cifar \
    --batches 85 --warmup 15 --workers 1 --timeout 60 --json "$OUT/bench_overhead.json"

stage "benchmark 2: side by side with the reference BalPoE code"
if [ -d .reference/BalPoE-CalibratedLT ]; then
    # shellcheck disable=SC2086
    timeout 95 python3 benchmarks/reference_balpoe.py --reference .reference/BalPoE-CalibratedLT \
        $REF_EXTRA --device cuda --data /tmp/cifar --batches 85 --warmup 15 --timeout 45 \
        --json "$OUT/bench_reference.json"
else
    echo "no .reference/BalPoE-CalibratedLT carried: skipped"
fi

stage "recipe smoke test on CUDA: ltlab train balpoe-cifar100-lt-ir100 --epochs 3 --amp"
timeout 40 python3 -m ltlab.runner train balpoe-cifar100-lt-ir100 --root /tmp/cifar --no-verify \
    --epochs 3 --device cuda --amp --json "$OUT/recipe_smoke.json" 2>&1 | grep -v "^training"

T=$(( $(left) - 25 ))
stage "gpu tests (pytest -m gpu, 10 at a time, ${T}s per test at most)"
if [ "$T" -gt 30 ]; then
    timeout $(( T + 15 )) python3 -m pytest -m gpu tests/test_gpu.py -n 10 -p no:cacheprovider \
        --timeout="$T" -o addopts="" -q -rA --junitxml="$OUT/gpu_tests.xml" 2>&1 | tail -60
else
    echo "not enough time left for the gpu tests"
fi

stage "collect executed notebooks"
ls test-output/gpu/*.ipynb >/dev/null 2>&1 && \
    tar -czf "$OUT/executed_notebooks.tar.gz" test-output/gpu/*.ipynb
ls -la "$OUT"
stage "done"
