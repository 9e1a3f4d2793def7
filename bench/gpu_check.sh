#!/usr/bin/env bash
# The GPU checks, as one command on a lent device machine: `bash bench/gpu_check.sh`, with .whl carried
# (bench/gpu_wheels.sh fills it here first). Under 10 minutes: each step has its own time limit, and a failed
# step does not stop the next. Logs and result JSON go to $OUT (the device tool brings them back).
# Prepared without a GPU: no device was lent to the sessions so far; the first one that is fixes what it finds.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 FLASHJOBS_ALLOW_DOWNLOADS=false
step() {  # step NAME SECONDS COMMAND...: run it with a limit, log to $OUT/NAME.log, say how it ended
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  echo "$name: exit $? after $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
}

# The image's numpy 2, Lightning 2 and torchmetrics 1 are shadowed by the pinned stack from the wheels.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed" | tee -a "$OUT/summary.txt"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
step imports 90 python3 -c "
from worker.training import compat
import torch, numpy, pandas, pytorch_lightning, torchmetrics, flash
print(torch.__version__, torch.cuda.get_device_name(0), numpy.__version__, pandas.__version__,
      pytorch_lightning.__version__, torchmetrics.__version__, flash.__version__)"
step pytest_gpu 150 python3 -m pytest -q -p no:cacheprovider tests/training/test_training_gpu.py
step input_pipeline 180 python3 bench/input_pipeline.py --output input_pipeline-gpu
step service_overhead 120 python3 bench/service_overhead.py --cifar-stem --repeats 1 --output service_overhead-gpu
cp bench/results/input_pipeline-gpu.json bench/results/service_overhead-gpu.json "$OUT/" 2>/dev/null
cat "$OUT/summary.txt"
