#!/usr/bin/env bash
# The GPU check (issue 14, "On a real GPU"): one command, at most 6 minutes on one GPU, no network.
#
#   bash benchmarks/gpu_check.sh          # from the repository root; figures go to $OUT (default ./gpu_check_out)
#
# Writes $OUT/gpu_check.json (every part's status and figures) and $OUT/gpu_check.md (the same, readable);
# each part's output is in $OUT/logs/PART.log, its study in $OUT/work/PART. Parts, each under its own `timeout`
# (a part that fails or runs out of time is recorded as such and the next one runs):
#   setup            a venv with --system-site-packages (the machine's own torch), tuner and its dependencies
#                    from benchmarks/wheels (benchmarks/gpu_wheels.sh fetches them); torch checked before/after
#   discovery        `tune --gpus all`: what nvidia-smi lists, what tune resolved, what each trial saw; again
#                    with the parent's CUDA_VISIBLE_DEVICES set to the last GPU's index and to its UUID
#   digits           the digits study, --gpus 0 --trials-per-gpu 4, warm launch: no "Cannot re-initialize CUDA
#                    in forked subprocess", slot utilisation, per-trial overhead
#   trainer_vs_loop  benchmarks/trainer_vs_loop.py --device cuda, without and with --amp (goal: ratio >= 0.95)
#   oom              a trainer that allocates far beyond the GPU's memory: its reason starts "out of memory"
#   torchrun         a 2-rank torchrun trial of the built-in trainer on GPU 0; if it fails (NCCL refuses two
#                    ranks on one device), again with TUNER_DDP_BACKEND=gloo
#
# Settings (environment): GPU_CHECK_DEVICE=cuda|cpu (cpu: the CPU rehearsal the tests run, with
# TUNER_AVAILABLE_GPUS=0), GPU_CHECK_SKIP_INSTALL=1 (use this python as it is), GPU_CHECK_PYTHON (default
# the first of python3, python that imports torch), GPU_CHECK_BUDGET (seconds for all parts, default 320; each
# part's `timeout -k 5` can add 5 s, so the whole stays under 6 minutes), GPU_CHECK_PARTS (the parts to run,
# default all), GPU_CHECK_LIMIT_<PART> (one part's seconds), GPU_CHECK_DIGITS_TRIALS (40), GPU_CHECK_EPOCHS
# (digits epochs; default: the config's 15), GPU_CHECK_TORCHRUN_EPOCHS (3), GPU_CHECK_VENV (/tmp/gpu_check_venv),
# GPU_CHECK_WHEELS (default benchmarks/wheels).
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export REPO OUT="${OUT:-$REPO/gpu_check_out}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export WORK="$OUT/work" HELPER="$REPO/benchmarks/gpu_check_report.py"
export GPU_CHECK_DEVICE="${GPU_CHECK_DEVICE:-cuda}" PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
SPACE="$REPO/search_spaces/digits.json"
PROBE_SPACE='{"x": {"type": "float", "low": 0.0, "high": 1.0}}'
PROBE_CONFIG="{x: std.parseJson(std.extVar('x')), trainer: {validation_metric: '+accuracy'}}"

python_of_run() { cat "$WORK/python.txt"; }

# tune's own command line, run with this check's python; its exit status goes to DIR/tune.rc.
tune_in() {
  local dir=$1; shift
  local py; py=$(python_of_run)
  (cd "$dir" && "$py" -m tuner run "$@" --storage "sqlite:///$dir/tune.db" -s "$dir/results" >"$dir/tune.txt" 2>&1)
  echo $? >"$dir/tune.rc"
  (cd "$dir" && "$py" -m tuner show-trials --storage "sqlite:///$dir/tune.db" --format json >"$dir/trials.json" 2>>"$dir/tune.txt")
}

torch_python() {  # the machine's python that has torch: GPU_CHECK_PYTHON, else the first of python3, python
  if [ -n "${GPU_CHECK_PYTHON:-}" ]; then echo "$GPU_CHECK_PYTHON"; return; fi
  local candidate
  for candidate in python3 python python3.12; do
    if "$candidate" -c 'import torch' 2>/dev/null; then command -v "$candidate"; return; fi
  done
  echo python3
}

make_venv() {  # SYS_PY VENV: a venv that sees SYS_PY's packages (its torch above all), with pip when possible
  local sys_py=$1 venv=$2
  rm -rf "$venv"
  "$sys_py" -m venv --system-site-packages "$venv" || "$sys_py" -m venv --system-site-packages --without-pip "$venv" \
    || return 1
  if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    # SYS_PY is itself a venv's python: --system-site-packages reached the base interpreter, not its torch.
    # addsitedir (not a bare path) so that the .pth files there (editable installs, ...) count too.
    "$sys_py" -c 'import site; print("\n".join(f"import site; site.addsitedir({d!r})" for d in site.getsitepackages()))' \
      >"$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/gpu_check_outer.pth"
  fi
}

venv_pip() {  # VENV ARGS...: the venv's pip, or (a venv made without pip) SYS_PY's pip aimed at it
  local venv=$1; shift
  if "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --no-index "$@"
  else
    "$(torch_python)" -m pip --python "$venv/bin/python" install --disable-pip-version-check --no-input --no-index "$@"
  fi
}

install_from_wheels() {  # VENV: what the machine lacks, from benchmarks/wheels; never torch
  local venv=$1 wheels="${GPU_CHECK_WHEELS:-$REPO/benchmarks/wheels}"
  [ -d "$wheels" ] || { echo "no $wheels: run benchmarks/gpu_wheels.sh on a machine with network"; return 1; }
  # pip keeps what the machine has (torch, numpy, ...) and installs only what is missing.
  venv_pip "$venv" --find-links "$wheels" optuna gojsonnet click rich || return 1
  # The digits reader reads scikit-learn's bundled CSV without importing sklearn: no scipy needed.
  "$venv/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("sklearn") is None)' \
    || venv_pip "$venv" --no-deps "$wheels"/scikit_learn-*.whl || return 1
  venv_pip "$venv" --find-links "$wheels" --no-deps -e "$REPO" \
    || echo "editable install failed; tuner is imported from PYTHONPATH=$REPO"
}

part_setup() {
  local sys_py; sys_py=$(torch_python)
  local venv="${GPU_CHECK_VENV:-/tmp/gpu_check_venv}" py="$sys_py"
  local before; before=$("$sys_py" -c 'import torch; print(torch.__version__)' 2>&1 | tail -1)
  if [ "${GPU_CHECK_SKIP_INSTALL:-0}" != 1 ]; then
    make_venv "$sys_py" "$venv" && install_from_wheels "$venv" || return 1
    py="$venv/bin/python"
  fi
  echo "$py" >"$WORK/python.txt"
  local after; after=$("$py" -c 'import torch; print(torch.__version__)' 2>&1 | tail -1)
  "$py" "$HELPER" setup "$OUT" "$before" "$after"
}

gpu_list() {  # indices and UUIDs, one GPU a line: "0, GPU-..."
  if [ -n "${TUNER_AVAILABLE_GPUS:-}" ]; then tr ',' '\n' <<<"$TUNER_AVAILABLE_GPUS" | sed 's/$/, /'; return; fi
  nvidia-smi --query-gpu=index,uuid --format=csv,noheader 2>/dev/null
}

discovery_case() {  # NAME [CUDA_VISIBLE_DEVICES]
  local dir="$WORK/discovery/$1" py; py=$(python_of_run)
  mkdir -p "$dir" && echo "$PROBE_CONFIG" >"$dir/probe.jsonnet" && echo "$PROBE_SPACE" >"$dir/space.json"
  if [ $# -gt 1 ]; then export CUDA_VISIBLE_DEVICES="$2"; fi
  echo "${CUDA_VISIBLE_DEVICES:-}" >"$dir/parent_cvd.txt"
  "$py" -c 'import json
from tuner.trials.gpus import available_gpus, resolve_gpus
try:
    resolved = {gpu.name: gpu.device for gpu in resolve_gpus("all")}  # --gpus name -> the trial'"'"'s device entry
except Exception as error:
    resolved = f"{type(error).__name__}: {error}"
print(json.dumps({"available_gpus": available_gpus(), "gpus_all": resolved}))' >"$dir/tune_saw.json"
  local count; count=$(gpu_list | grep -c . || true)
  tune_in "$dir" probe.jsonnet space.json --gpus all --n-trials "$(( count > 0 ? count : 1 ))" --launch plain \
    --pruner none --command "{python} $HELPER probe {config} {serialization_dir}"
  unset CUDA_VISIBLE_DEVICES
}

part_discovery() {
  mkdir -p "$WORK/discovery"
  { nvidia-smi --query-gpu=index,uuid,name,memory.used,memory.total --format=csv,noheader \
      && nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader; } \
    >"$WORK/discovery/nvidia_smi.csv" 2>&1 || echo "nvidia-smi: not available" >>"$WORK/discovery/nvidia_smi.csv"
  discovery_case all
  local last; last=$(gpu_list | tail -1)
  if [ -n "$last" ]; then
    discovery_case last_index "${last%%,*}"
    local uuid; uuid=$(sed 's/^[^,]*, *//' <<<"$last")
    if [ -n "$uuid" ]; then discovery_case last_uuid "$uuid"; fi
  fi
  "$(python_of_run)" "$HELPER" discovery "$OUT"
}

part_digits() {
  local dir="$WORK/digits" limit=$1
  mkdir -p "$dir" && echo 4 >"$dir/slots.txt"
  if [ -n "${GPU_CHECK_EPOCHS:-}" ]; then
    echo "(import '$REPO/configs/digits_optuna.jsonnet') + {trainer+: {num_epochs: $GPU_CHECK_EPOCHS}}" >"$dir/digits.jsonnet"
  else
    echo "import '$REPO/configs/digits_optuna.jsonnet'" >"$dir/digits.jsonnet"
  fi
  local started=$SECONDS
  # --timeout leaves time for show-trials; no pruning, so every trial's overhead is measured alike.
  tune_in "$dir" digits.jsonnet "$SPACE" --gpus 0 --trials-per-gpu 4 --launch warm --pruner none --seed 0 \
    --n-trials "${GPU_CHECK_DIGITS_TRIALS:-40}" --timeout "$(( limit > 40 ? limit - 25 : limit / 2 ))"
  echo $(( SECONDS - started )) >"$dir/wall_s.txt"
  "$(python_of_run)" "$HELPER" digits "$OUT"
}

part_trainer_vs_loop() {  # PART [--amp]
  local script="$REPO/benchmarks/trainer_vs_loop.py" part=$1; shift
  if [ ! -f "$script" ]; then
    "$(python_of_run)" "$HELPER" mark "$OUT" "$part" "not available" "benchmarks/trainer_vs_loop.py is not in this tree"
    return 0
  fi
  if [ "$GPU_CHECK_DEVICE" != cuda ] && [ "${1:-}" = --amp ]; then  # the trainer's AMP is CUDA's (GradScaler)
    "$(python_of_run)" "$HELPER" mark "$OUT" "$part" "skipped" "mixed precision needs a GPU"
    return 0
  fi
  mkdir -p "$WORK/$part"
  "$(python_of_run)" "$script" --device "$GPU_CHECK_DEVICE" "$@" --out "$WORK/$part/result.json" || return 1
  "$(python_of_run)" "$HELPER" json-part "$OUT" "$part" "$WORK/$part/result.json"
}

part_oom() {
  local dir="$WORK/oom"
  mkdir -p "$dir" && echo "$PROBE_CONFIG" >"$dir/probe.jsonnet" && echo "$PROBE_SPACE" >"$dir/space.json"
  tune_in "$dir" probe.jsonnet space.json --gpus 0 --trials-per-gpu 2 --n-trials 2 --launch plain --pruner none \
    --command "{python} $HELPER oom {config} {serialization_dir}"
  "$(python_of_run)" "$HELPER" oom-figures "$OUT"
}

torchrun_attempt() {  # NAME [VAR=VALUE...]
  local dir="$WORK/torchrun/$1"; shift
  mkdir -p "$dir"
  echo "(import '$REPO/configs/digits_optuna.jsonnet') + {trainer+: {num_epochs: ${GPU_CHECK_TORCHRUN_EPOCHS:-3}}}" \
    >"$dir/digits.jsonnet"
  echo "$*" >"$dir/env.txt"
  (
    for setting in "$@"; do export "${setting?}"; done
    tune_in "$dir" digits.jsonnet "$SPACE" --gpus 0 --n-trials 1 --launch plain --pruner none --seed 0 --command \
      "{python} -m torch.distributed.run --standalone --nproc-per-node 2 -m tuner.train {config} -s {serialization_dir}"
  )
  "$(python_of_run)" "$HELPER" count-processes "$dir/results" >"$dir/left.txt"
  grep -q '"COMPLETE"' "$dir/trials.json"
}

part_torchrun() {
  mkdir -p "$WORK/torchrun"
  torchrun_attempt default || torchrun_attempt gloo TUNER_DDP_BACKEND=gloo
  "$(python_of_run)" "$HELPER" torchrun "$OUT"
}

# One part under its time limit: the limit shrinks to what is left of the budget, the part's output goes to
# logs/PART.log, and a part that failed or ran out of time is recorded as such (then the next part runs).
run_part() {  # PART LIMIT FUNCTION [ARGS...]
  local part=$1 limit=$2; shift 2
  local override="GPU_CHECK_LIMIT_${part^^}"
  limit=${!override:-$limit}
  if [[ " ${GPU_CHECK_PARTS:-$ALL_PARTS} " != *" $part "* ]]; then
    "$(python_of_run)" "$HELPER" mark "$OUT" "$part" skipped "not in GPU_CHECK_PARTS"
    return
  fi
  local left=$(( BUDGET - (SECONDS - START) ))
  (( limit > left )) && limit=$left
  if (( limit < 5 )); then
    "$(python_of_run)" "$HELPER" mark "$OUT" "$part" skipped "no time left of the ${BUDGET} s budget"
    return
  fi
  echo "== $part (limit ${limit} s)"
  local started=$SECONDS
  timeout -k 5 "$limit" bash "${BASH_SOURCE[0]}" --part "$limit" "$@" >"$OUT/logs/$part.log" 2>&1
  local status=$?
  echo $(( SECONDS - started )) >"$OUT/parts/$part.seconds"
  if (( status == 124 || status == 137 )); then
    "$(python_of_run)" "$HELPER" mark "$OUT" "$part" "timed out" "after ${limit} s; see logs/$part.log"
  elif (( status != 0 )); then
    "$(python_of_run)" "$HELPER" mark "$OUT" "$part" failed "exit status $status; $(tail -3 "$OUT/logs/$part.log" | tr '\n' ' ')"
  fi
}

if [ "${1:-}" = --part ]; then  # one part, run by run_part under `timeout`: LIMIT FUNCTION [ARGS...]
  limit=$2; function=$3; shift 3
  if [ "$function" = part_digits ]; then "$function" "$limit" "$@"; else "$function" "$@"; fi
  exit $?
fi

START=$SECONDS BUDGET=${GPU_CHECK_BUDGET:-320}
ALL_PARTS="setup discovery digits trainer_vs_loop trainer_vs_loop_amp oom torchrun"
rm -rf "$OUT/parts" "$OUT/logs" "$WORK" && mkdir -p "$OUT/parts" "$OUT/logs" "$WORK"
torch_python >"$WORK/python.txt"  # until setup has made its venv
run_part setup 55 part_setup
if [ ! -f "$OUT/parts/setup.json" ] || ! grep -q '"status": "ok"' "$OUT/parts/setup.json"; then
  echo "setup failed: see $OUT/logs/setup.log" >&2
fi
run_part discovery 40 part_discovery
run_part digits 75 part_digits
run_part trainer_vs_loop 35 part_trainer_vs_loop trainer_vs_loop
run_part trainer_vs_loop_amp 35 part_trainer_vs_loop trainer_vs_loop_amp --amp
run_part oom 30 part_oom
run_part torchrun 55 part_torchrun
find "$WORK" \( -name '*.th' -o -name '*.pt' \) -delete 2>/dev/null  # weights: not figures, and large
echo $(( SECONDS - START )) >"$OUT/wall_s.txt"
"$(python_of_run)" "$HELPER" report "$OUT"
echo "figures: $OUT/gpu_check.json, $OUT/gpu_check.md"
