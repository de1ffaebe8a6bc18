#!/usr/bin/env bash
# The commands that made the reference results in docs/results/, in order of priority; each resumes
# where it stopped (finished runs of the same config and code are reused), so rerun this script until it
# ends. Wall times go to LOGROOT/times.tsv with the 1-minute load average before and after each command.
#
#   bash docs/results/regenerate.sh LOGROOT          # train; LOGROOT/logs holds every run
#   cd LOGROOT && python REPO/plot.py --logdir logs --resultdir REPO/docs/results --readme REPO/README.md
#   python REPO/docs/results/check.py LOGROOT       # seeds, verdicts and columns; the files made again byte for byte
#   python REPO/docs/results/command_times.py LOGROOT --write   # README's commands table from the runs' own times
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
# 1. Every quick-recipe study and the optimizer study, 10 seeds, MNIST then Fashion-MNIST
step run.py --study all --seeds 10
step compare_optim.py --seeds 10
step run.py --dataset fashion-mnist --study all --seeds 10
step compare_optim.py --dataset fashion-mnist --seeds 10
# 2. The precision study (10 seeds quick, its default; 5 full)
step run.py --study precision
step run.py --study precision --dataset fashion-mnist
step run.py --study precision --recipe full --seeds 5
# 3. The base study trained to convergence, both datasets, 10 seeds; LeCun et al. 1998's networks (MNIST)
step run.py --recipe full --seeds 10
step run.py --dataset fashion-mnist --recipe full --seeds 10
step run.py --study lecun98
# 4. Beyond the assignment: regularization (full recipe) and the best recipe, both datasets, 5 seeds
step run.py --study regularization
step run.py --study regularization --dataset fashion-mnist
step run.py --study best
step run.py --study best --dataset fashion-mnist
# 5. Activations and optimizers trained to convergence, MNIST, then Fashion-MNIST if time allows
step run.py --study activation --recipe full
step compare_optim.py --recipe full
step run.py --dataset fashion-mnist --study activation --recipe full
step compare_optim.py --dataset fashion-mnist --recipe full
# docs/results/precision/ (issue 32, code 4e88ee07) and docs/results/best/ (issue 33, code 74fbfa7c) were made
# apart, each in a LOGROOT of its own, by step 2's commands and step 4's `--study best` ones, then
#   cd LOGROOT && python REPO/plot.py --logdir logs --resultdir REPO/docs/results/<precision or best>
# with the *_scalars.csv files removed (tens of MB of curves; the logs hold them).
