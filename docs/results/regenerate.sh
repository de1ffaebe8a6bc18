#!/usr/bin/env bash
# The commands that made the reference results in docs/results/, in order of priority; each resumes
# where it stopped (finished runs of the same config and code are reused), so rerun this script until it
# ends. Wall times go to LOGROOT/times.tsv with the 1-minute load average before and after each command.
#
#   bash docs/results/regenerate.sh LOGROOT          # train; LOGROOT/logs holds every run
#   cd LOGROOT && python REPO/plot.py --logdir logs --resultdir REPO/docs/results --readme REPO/README.md
# The commands run in LOGROOT with --logdir logs, so that the manifests, and REPORT.md after them,
# quote a relative folder and no machine path. PYTHON: the interpreter, on PATH or an absolute path.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
root=${1:?usage: bash docs/results/regenerate.sh LOGROOT}
py=${PYTHON:-python}
mkdir -p "$root/logs"
cd "$root"
step() {
  local start load
  start=$(date +%s)
  load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
  echo "== $*"
  local script=$1
  shift
  "$py" "$repo/$script" "$@" --logdir logs --no-plot --quiet
  printf '%s %s\t%s s\tload %s -> %s\n' "$script" "$*" "$(( $(date +%s) - start ))" "$load" \
    "$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")" >> times.tsv
}
# 1. MNIST, quick recipe
step run.py --study all
step compare_optim.py
# 2. Fashion-MNIST, quick recipe
step run.py --dataset fashion-mnist --study base
step run.py --dataset fashion-mnist --study activation
step compare_optim.py --dataset fashion-mnist
# 3. The base study trained to convergence, both datasets
step run.py --recipe full
step run.py --dataset fashion-mnist --recipe full
# 4. LeCun et al. 1998's networks (MNIST, full recipe)
step run.py --study lecun98
# 5. If time allows: activations trained to convergence on Fashion-MNIST
step run.py --dataset fashion-mnist --study activation --recipe full
# docs/results/precision/ (issue 32) was made apart, in its own LOGROOT, from these two, then
#   cd LOGROOT && python REPO/plot.py --logdir logs --resultdir REPO/docs/results/precision   (its *_scalars.csv removed)
#   python run.py --study precision --logdir logs --no-plot --quiet
#   python run.py --study precision --dataset fashion-mnist --logdir logs --no-plot --quiet
