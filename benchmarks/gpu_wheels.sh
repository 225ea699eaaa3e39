#!/usr/bin/env bash
# Fetch, on a machine with network, the wheels benchmarks/gpu_check.sh installs on the GPU machine (Python 3.12,
# manylinux x86_64, no network): Optuna and its dependencies, go-jsonnet, click, rich, setuptools and wheel (to install
# tuner editable), and scikit-learn without its dependencies (the digits reader only reads its bundled CSV, so
# scipy, 35 MB, stays behind). Never torch: the GPU machine's own CUDA build is used.
#
#   bash benchmarks/gpu_wheels.sh        # into benchmarks/wheels (ignored by git); prints the total size
#
# The folder must stay under the device's 64 MiB carry limit; numpy is the largest wheel (about 16 MB): if the GPU
# machine has numpy, GPU_WHEELS_SKIP_NUMPY=1 leaves it out.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# GPU_WHEELS_DIR and GPU_WHEELS_PYTHON (e.g. 3.11) let a CPU machine rehearse the install (GPU_CHECK_WHEELS).
WHEELS=${GPU_WHEELS_DIR:-$REPO/benchmarks/wheels}
PYTHON=${PYTHON:-python3}
VERSION=${GPU_WHEELS_PYTHON:-3.12}
TARGET=(--only-binary=:all: --python-version "$VERSION" --implementation cp --abi "cp${VERSION/./}" --abi abi3 --abi none
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64
  --platform any)

rm -rf "$WHEELS" && mkdir -p "$WHEELS"
"$PYTHON" -m pip download --disable-pip-version-check "${TARGET[@]}" -d "$WHEELS" \
  optuna gojsonnet click rich "setuptools>=68" wheel
"$PYTHON" -m pip download --disable-pip-version-check "${TARGET[@]}" --no-deps -d "$WHEELS" scikit-learn
if [ "${GPU_WHEELS_SKIP_NUMPY:-0}" = 1 ]; then rm -f "$WHEELS"/numpy-*.whl; fi
if ls "$WHEELS"/torch-* "$WHEELS"/nvidia_* >/dev/null 2>&1; then
  echo "error: a torch or CUDA wheel was fetched; the GPU machine's own torch must be used" >&2
  exit 1
fi
ls "$WHEELS"/gojsonnet-*-"cp${VERSION/./}"-*manylinux*.whl >/dev/null \
  || { echo "error: no cp${VERSION/./} manylinux wheel of gojsonnet (its sdist needs Go, which the GPU machine lacks)" >&2; exit 1; }
total=$(du -sb "$WHEELS" | cut -f1)
echo "$(ls "$WHEELS" | wc -l) wheels, $(( total / 1024 / 1024 )) MiB in $WHEELS"
if (( total > 60 * 1024 * 1024 )); then
  echo "warning: over 60 MiB; the device carries at most 64 MiB with the working tree's other carried paths" >&2
fi
