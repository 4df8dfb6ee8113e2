#!/bin/bash
# One GPU device command of the headline sweep: run (or resume) the sweep for at most $1 seconds (no cell is started
# that would not end by then, judged by the longest of its kind so far: `caught sweep --stop-after`), then write
# the report and put the run directory but its logs in $OUT/<name>.tar, the logs in $OUT/<name>-logs.tar.gz. The sweep resumes cell by cell,
# so successive commands on the same (warm) machine continue the grid. WORKERS=N runs N shards of the grid at once
# (`caught sweep --shard I/N`, one process each, all on the one GPU and one run directory): a 135M model leaves
# the GPU mostly idle while each process spends its time in Inspect and Python.
#   WORKERS=4 bash experiments/gpu_sweep.sh 540 experiments/headline.toml
set -uo pipefail
# the project's CLI: its entry point where the editable install put one on PATH, else the module (a fresh device
# machine may lack the former)
caught=(caught); command -v caught >/dev/null || caught=(python3 -m caught.cli)
budget=${1:-540}
config=${2:-experiments/headline.toml}
name=$(python3 -c "import tomllib,sys; print(tomllib.load(open(sys.argv[1],'rb'))['name'])" "$config")
# RESUME_FROM=results/headline: a fresh machine starts from a committed sweep's results.parquet and config.json
# (groups already finished there are skipped; a group cut short there cannot be finished on a rebuilt organism)
# and its per-sample records, the parts of samples/ or one packed samples.parquet (the sweep takes that in as a part)
if [ -n "${RESUME_FROM:-}" ] && [ ! -f "runs/$name/results.parquet" ]; then
  mkdir -p "runs/$name" && cp "$RESUME_FROM/results.parquet" "$RESUME_FROM/config.json" "runs/$name/"
  [ -d "$RESUME_FROM/samples" ] && cp -r "$RESUME_FROM/samples" "runs/$name/"  # the records behind the paired tests
  [ -f "$RESUME_FROM/samples.parquet" ] && cp "$RESUME_FROM/samples.parquet" "runs/$name/"
  echo "resuming from $RESUME_FROM"
fi
# DROP="tier/hate/0 style/hate/1": groups cut short in the resumed run, measured again whole (`caught drop`): a fresh
# machine rebuilds their organisms, and a group's cells are never measured on two organisms
if [ -n "${DROP:-}" ]; then "${caught[@]}" drop "runs/$name" $DROP || exit 1; fi
# ONLY="trigger tier": only these scenarios (or SCENARIO/BEHAVIOR/SEED groups) now, the rest of the grid later
only=""; for o in ${ONLY:-}; do only="$only --only $o"; done
start=$(date +%s)
workers=${WORKERS:-1}
# several processes' caching allocators on one GPU: without expandable segments one of six shards ran out of memory
# on an 80 GB H100 (2026-12-07, results/headline-packed-partial-2026-12-07/shard-1.log); used with the CUDA graphs
# of the sycophancy ladder (results/sycophancy/ladder-gpu/notes.md)
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
# the host's cores split between the shards: each process's torch, BLAS and OpenMP would otherwise start one thread
# per core (six shards on 16 cores: 96 threads), and the CPU-side work of a shard (probe fits, tokenizing, Inspect)
# then waits on the others' spinning threads. On 2026-12-07 the organism's judge and probe took 39-55 s a group
# under six shards at 16 threads each, the probe alone 6.1 s (not measured at the split count yet); on a 2-core CPU,
# three processes of the probe's fits ran 3.6x faster at one thread each than at two, and on the 16-core H100 host six
# ran 5.7x faster at two threads each than at 16 (benchmarks/oversubscription.py, results/threads/).
threads=$(( $(nproc) / workers )); (( threads >= 1 )) || threads=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$threads} MKL_NUM_THREADS=${MKL_NUM_THREADS:-$threads} \
  OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$threads}
echo "$workers shard(s), $OMP_NUM_THREADS CPU thread(s) each, budget $budget s"
mkdir -p "runs/$name"
for ((i = 0; i < workers; i++)); do
  COLUMNS=200 timeout --signal=INT -k 30 "$budget" "${caught[@]}" sweep "$config" --device cuda --no-report --shard "$i/$workers" --stop-after "$budget" $only \
    >> "runs/$name/shard-$i.log" 2>&1 &  # appended: a resumed command keeps the earlier commands' lines
done
wait
sweep_end=$(date +%s)
echo "sweep: $workers shard(s) done after $(( sweep_end - start )) s"
for ((i = 0; i < workers; i++)); do grep -E "^(sweep|\[|skipping|stopping)" "runs/$name/shard-$i.log" | tail -n 40; done
# what this command measured: its cells, their phases and its wall time, printed and appended to
# runs/<name>/timing.jsonl (one line per command, tarred with the run: a grid's timing, committed with its results)
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
python3 -m caught.timing "runs/$name" --start "$start" --end "$sweep_end" --workers "$workers" --budget "$budget" \
  --config "$config" --threads "$OMP_NUM_THREADS" --device "$gpu"
"${caught[@]}" report "runs/$name" --command "caught sweep $config --device cuda" --device-note "$gpu"
# one tar of the run directory but its Inspect logs (results, report, plots, config, shard logs, caught files and the
# per-sample parts: `caught pack` packs those into one samples.parquet); a command returns only a few files
tar -cf "$OUT/$name.tar" -C runs --exclude="$name/logs" --exclude="$name/.lock" "$name"
# the Inspect logs behind every figure, compressed, apart: over the size that comes back it is left out alone (the
# per-sample records hold every completion and verdict either way)
tar -czf "$OUT/$name-logs.tar.gz" -C "runs/$name" logs 2>/dev/null
