#!/usr/bin/env bash
# One prepared check of every GPU path in at most 8 minutes; see benchmarks/gpu_check.py.
#   benchmarks/gpu_check.sh                      # on the GPU: report in reports/gpu-<device>/
#   benchmarks/gpu_check.sh --device cpu --out DIR   # the same steps, tiny, in under 3 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" benchmarks/gpu_check.py "$@"
