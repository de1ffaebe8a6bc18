#!/usr/bin/env bash
# The commands that make the reference results in docs/results/, as parts: each part is one folder of
# docs/results, trained into a LOGROOT of its own and small enough for one working session on 2 cores
# (files outside the clone do not outlive a session on the project's VMs). A part resumes where it stopped
# (finished runs of the same config and code are reused), so rerun it until it ends. Wall times go to
# LOGROOT/times.tsv with the 1-minute load average before and after each command.
#
#   bash docs/results/regenerate.sh LOGROOT PART     # train; LOGROOT/logs holds the part's runs
#   cd LOGROOT && python REPO/plot.py --logdir logs --resultdir REPO/docs/results/PART  # then rm its *_scalars.csv
#   python REPO/docs/results/table.py --write        # README's findings and table, FINDINGS.md, from every part's CHOICES.json
#   python REPO/docs/results/overview.py             # the overview figures (overview-<dataset>.png) from every part's CSVs
#   python REPO/docs/results/check.py --results REPO/docs/results/PART LOGROOT   # seeds, verdicts, columns;
#                                                    # the folder made again byte for byte
#   python REPO/docs/results/command_times.py LOGROOT --write   # README's commands table from the runs' own times
# Train from a frozen copy of the code, `git worktree add --detach LOGROOT/code` (then REPO is LOGROOT/code), so
# that edits made meanwhile do not reach the runs and each run records its commit.
# The commands run in LOGROOT with --logdir logs, so that the manifests, and REPORT.md after them,
# quote a relative folder and no machine path. PYTHON: the interpreter, on PATH or an absolute path.
# PART, in issue 34's priority order (minutes by `--dry-run` on the 2-core AMD EPYC VM from nothing finished;
# mnist-quick took 111):
#   1. mnist-quick (127), optim-quick-mnist (23), fashion-mnist-quick (101), optim-quick-fashion-mnist (23)
#   2. precision (111)
#   3. base-full-mnist (70), base-full-fashion-mnist (68), lecun98 (7)
#   4. regularization-mnist (66), regularization-fashion-mnist (70), best (110)
#   5. activation-full-mnist (103), optim-full-mnist (67), and their fashion-mnist parts
# On the VM's variant without AVX-512 (2026-12-07) the same parts take about twice as long (optim-quick-fashion-mnist
# 48.8 min, lecun98 14.3) and precision ten times (bf16 emulated: 248 + 273 + 771 min by --dry-run), so precision
# parts belong on a CPU with avx512_bf16 or amx_bf16. By --dry-run there, issue 53's whole table (every part below,
# each counted alone) is about 98 hours of 2-core time, 76 without precision.
# Issue 53's parts, 10 seeds, from the run store's code (runs keyed by content: a run another part already trained
# is reused, not retrained, where the parts share a store: RUNSTORE=DIR links LOGROOT/logs/runs to DIR):
#   6. optim-sweep-quick-mnist, optim-sweep-quick-fashion-mnist (compare_optim.py --study all: every optimizer at 5
#      rates, the optim study's runs among them; its folder replaces optim-quick-<dataset>, which table.py then
#      refuses beside it: one part per study, dataset and recipe)
#   7. depth-full-mnist, width-full-mnist, batch_size-full-mnist and their fashion-mnist parts
#   8. activation-full-*, optim-full-*, regularization-* at 10 seeds (the 5-seed parts above, extended)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
root=${1:?usage: bash docs/results/regenerate.sh LOGROOT PART}
part=${2:?usage: bash docs/results/regenerate.sh LOGROOT PART (the parts are listed at the top of this script)}
py=${PYTHON:-python}
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
fashion=(--dataset fashion-mnist)
case $part in
  mnist-quick) run() { step run.py --study all --seeds 10; } ;;
  fashion-mnist-quick) run() { step run.py "${fashion[@]}" --study all --seeds 10; } ;;
  optim-quick-mnist) run() { step compare_optim.py --seeds 10; } ;;
  optim-quick-fashion-mnist) run() { step compare_optim.py "${fashion[@]}" --seeds 10; } ;;
  precision) run() {  # 10 seeds quick (the study's default), 5 full
    step run.py --study precision; step run.py --study precision "${fashion[@]}"
    step run.py --study precision --recipe full --seeds 5; } ;;
  base-full-mnist) run() { step run.py --recipe full --seeds 10; } ;;
  base-full-fashion-mnist) run() { step run.py "${fashion[@]}" --recipe full --seeds 10; } ;;
  lecun98) run() { step run.py --study lecun98; } ;;
  regularization-mnist) run() { step run.py --study regularization; } ;;
  regularization-fashion-mnist) run() { step run.py --study regularization "${fashion[@]}"; } ;;
  best) run() { step run.py --study best; step run.py --study best "${fashion[@]}"; } ;;
  activation-full-mnist) run() { step run.py --study activation --recipe full; } ;;
  optim-full-mnist) run() { step compare_optim.py --recipe full; } ;;
  activation-full-fashion-mnist) run() { step run.py "${fashion[@]}" --study activation --recipe full; } ;;
  optim-full-fashion-mnist) run() { step compare_optim.py "${fashion[@]}" --recipe full; } ;;
  optim-sweep-quick-mnist) run() { step compare_optim.py --study all --seeds 10; } ;;
  optim-sweep-quick-fashion-mnist) run() { step compare_optim.py "${fashion[@]}" --study all --seeds 10; } ;;
  depth-full-mnist|width-full-mnist|batch_size-full-mnist)
    run() { step run.py --study "${part%%-full-mnist}" --recipe full --seeds 10; } ;;
  depth-full-fashion-mnist|width-full-fashion-mnist|batch_size-full-fashion-mnist)
    run() { step run.py "${fashion[@]}" --study "${part%%-full-fashion-mnist}" --recipe full --seeds 10; } ;;
  activation-full-mnist-10) run() { step run.py --study activation --recipe full --seeds 10; } ;;
  activation-full-fashion-mnist-10) run() { step run.py "${fashion[@]}" --study activation --recipe full --seeds 10; } ;;
  optim-full-mnist-10) run() { step compare_optim.py --recipe full --seeds 10; } ;;
  optim-full-fashion-mnist-10) run() { step compare_optim.py "${fashion[@]}" --recipe full --seeds 10; } ;;
  regularization-mnist-10) run() { step run.py --study regularization --seeds 10; } ;;
  regularization-fashion-mnist-10) run() { step run.py --study regularization "${fashion[@]}" --seeds 10; } ;;
  *) echo "regenerate.sh: unknown part '$part' (the parts are listed at the top of this script)" >&2; exit 2 ;;
esac
mkdir -p "$root/logs"
if [ -n "${RUNSTORE:-}" ] && [ ! -e "$root/logs/runs" ]; then  # one store for every part: each computation once
  mkdir -p "$RUNSTORE"
  ln -s "$(cd "$RUNSTORE" && pwd)" "$root/logs/runs"
fi
cd "$root"
run
