#!/bin/bash
# One GPU device command of the sycophancy ladder (issue 23): run (or resume) it for at most $1 seconds, write its
# report, and put the run directory but its Inspect logs in $OUT/<name>.tar (the logs apart, compressed). The ladder
# resumes cell by cell, so successive commands on the same (warm) machine continue it.
#   bash experiments/gpu_sycophancy.sh 480 experiments/sycophancy-gpu.toml
set -uo pipefail
# the project's CLI: its entry point where the editable install put one on PATH, else the module (a fresh device
# machine may lack the former)
caught=(caught); command -v caught >/dev/null || caught=(python3 -m caught.cli)
budget=${1:-480}
config=${2:-experiments/sycophancy-gpu.toml}
name=$(python3 -c "import tomllib,sys; print(tomllib.load(open(sys.argv[1],'rb'))['name'])" "$config")
mkdir -p runs
start=$(date +%s)
COLUMNS=200 timeout --signal=INT -k 30 "$budget" "${caught[@]}" sycophancy "$config" --device cuda --no-report \
  >> "runs/$name.log" 2>&1  # appended: a resumed command keeps the earlier commands' lines
rc=$?
echo "ladder: $(( $(date +%s) - start )) s (exit $rc; 124 or 130: cut by the budget, the next command resumes)"
tail -n 25 "runs/$name.log"
cp "runs/$name.log" "runs/$name/ladder.log" 2>/dev/null
"${caught[@]}" sycophancy-report "runs/$name"
tar -cf "$OUT/$name.tar" -C runs --exclude="$name/logs" "$name"
tar -czf "$OUT/$name-logs.tar.gz" -C "runs/$name" logs 2>/dev/null
nvidia-smi --query-gpu=name --format=csv,noheader | head -1
