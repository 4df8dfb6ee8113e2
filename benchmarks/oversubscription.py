"""Benchmark: several processes' CPU work on one host, each at the host's thread count against the cores split
between them (what `experiments/gpu_sweep.sh` sets for its shards through OMP_NUM_THREADS).

    python benchmarks/oversubscription.py --processes 3            # on a 2-core CPU
    python benchmarks/oversubscription.py --processes 6 --out results/threads/h100-host.json   # the GPU host

Each process runs the activation probe's fits (`caught.probe.probe_arrays`: a logistic regression per pooling and
layer, the layer choice, the control and the learning curve) on synthetic activations of the embedded model's shape
(31 layers x 576, 128 training requests and 200 eval requests, both framings) — the CPU-side work a sweep shard does
per group beside its GPU work. All processes start together, once with every process at the host's thread count
(torch's, BLAS's and OpenMP's default: one per core) and once with the cores split between them; it prints each
process's seconds, their mean, and the ratio of the two means. One process alone at the host's thread count is the
reference for both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

WORK = """
import time, numpy as np
from caught.probe import probe_arrays
rng = np.random.default_rng(0)
n, layers, d = 128, 31, 576
def acts(m):
    a = rng.normal(size=(2 * m, layers, d)).astype(np.float32)
    a[:, :, 0] += 3 * np.array([0, 1] * m)[:, None]  # a separable cue, as a framing tag gives
    return a
train, evals = {"last": acts(n), "mean": acts(n)}, {"last": acts(200), "mean": acts(200)}
ids = [f"r{i}" for i in range(n) for _ in (0, 1)]
ids_eval = [f"e{i}" for i in range(200) for _ in (0, 1)]
t = time.perf_counter()
probe_arrays(train, np.array([0, 1] * n), ids, evals, np.array([0, 1] * 200), ids_eval, sizes=[4, 8, 16, 32, 64, 128, 256])
print(time.perf_counter() - t)
"""

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def run(processes: int, threads: int) -> list[float]:
    """Seconds of each of `processes` processes started together, each at `threads` threads."""
    env = {**os.environ, **{v: str(threads) for v in THREAD_VARS}}
    procs = [subprocess.Popen([sys.executable, "-c", WORK], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(processes)]
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"a worker process failed (exit {p.returncode})")
        out.append(float(stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=3, help="processes started together (the shards)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    if args.processes < 2:
        parser.error(f"--processes {args.processes}: expected at least 2 (one process alone is the reference)")
    cores = os.cpu_count() or 1
    split = max(1, cores // args.processes)
    alone = run(1, cores)[0]
    full = run(args.processes, cores)
    shared = run(args.processes, split)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    result = {"host": platform.node(), "cpu": platform.processor() or platform.machine(), "cores": cores,
              "processes": args.processes, "date": time.strftime("%Y-%m-%d"),
              "command": "python benchmarks/oversubscription.py " + " ".join(sys.argv[1:]),
              "alone_seconds": round(alone, 2),
              "host_threads": {"threads": cores, "seconds": [round(x, 2) for x in full], "mean": round(mean(full), 2)},
              "split_threads": {"threads": split, "seconds": [round(x, 2) for x in shared], "mean": round(mean(shared), 2)},
              "ratio": round(mean(full) / mean(shared), 2)}
    print(f"{cores} cores, {args.processes} processes; one process alone at {cores} threads: {alone:.2f} s")
    print(f"  each at {cores} threads (the default): {', '.join(f'{x:.2f}' for x in full)} s (mean {mean(full):.2f})")
    print(f"  each at {split} thread(s) (split):      {', '.join(f'{x:.2f}' for x in shared)} s (mean {mean(shared):.2f})")
    print(f"  split / default: {result['ratio']:.2f}x faster per process")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
