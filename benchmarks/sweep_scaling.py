"""Benchmark: sweep cells per hour on 1 worker against N workers of one host (`caught sweep --workers`, caught.cluster).

    python benchmarks/sweep_scaling.py --device cuda --config experiments/headline-gpu-subset.toml --workers 1 8 \\
        --out results/cluster/scaling-h100x8.json                       # a host with 8 GPUs (target: >= 0.8 N)
    python benchmarks/sweep_scaling.py --device cpu --quick              # a smoke run: tiny Llama, 1 and 2 workers

Each worker count runs the same grid from scratch (its own run directory and checkpoints directory: organisms are
built, caught and trained again) through `RaySweep` (one GPU a group on CUDA, CPU threads shared out on a CPU), and
the wall time from start to the last row gives cells per hour; scaling = (cells/h with N) / (cells/h with 1) / N.
The runs must give the same cells; on a CPU in fp32 their rows agree exactly (checked), on a GPU bf16 rounding may
differ between runs, so only the cells are checked. `--groups G` keeps the first G groups of the grid (the config's
seeds and scenarios; a grid needs at least N groups to keep N workers busy: a group is one task). `--quick`: the
tests' tiny Llama, two groups of two cells, fp32.

No GPU figure of this benchmark has been measured yet (no multi-GPU machine was lent); the CPU run is a smoke check
of the mechanics on a 2-core machine, not a scaling figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

VOLATILE = ("seconds", "finished_at", "logs", "host", "commit", "code", "caught_file")


def quick_config(base: str):
    """Two groups (seeds 0 and 1) of two cells on the tiny Llama (the tests' sizes)."""
    from caught.config import SweepConfig

    return SweepConfig(
        name="scaling", base=base, scenarios=["trigger"], ks=[0, 2], seeds=[0, 1],
        organism={"prompts": 16, "leak": 0.4, "steps": 8, "lr": 5e-3, "method": "full", "batch_size": 8},
        train={"steps": 2, "batch_size": 2, "responses": "base", "check_samples": 1},
        eval={"n": 6, "usefulness_n": 4, "capability_n": 4, "max_tokens": 8, "trained_samples": 1, "judge_n": 4,
              "catch_epochs": 1},
    )


def keep_groups(config, groups: int | None):
    """`config` with only its first `groups` groups (seeds first, then scenarios), as the grid runs them."""
    if not groups:
        return config
    seeds, scenarios = config.seeds, config.scenarios
    per_seed = len(scenarios) * len(config.behaviors) * max(1, len(config.organism_steps))
    keep_seeds = seeds[: -(-groups // per_seed)]
    keep_scenarios = scenarios if groups >= per_seed else scenarios[:max(1, groups // len(config.behaviors))]
    return config.model_copy(update={"seeds": keep_seeds, "scenarios": keep_scenarios})


def run(config, workers: int, device: str, root: Path) -> tuple[float, object]:
    from caught.cluster import RaySweep
    from caught.sweep import Sweep

    (root / "checkpoints").mkdir(parents=True)
    os.environ["CAUGHT_CHECKPOINTS"] = str(root / "checkpoints")  # a local Ray's workers inherit it
    sweep = Sweep(config, runs_dir=root / "runs", log_dir=str(root / "logs"), device=device, say=print)
    t0 = time.perf_counter()
    df = RaySweep(sweep, workers=workers).run()
    return time.perf_counter() - t0, df


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--config", type=Path, default=Path("experiments/headline-gpu-subset.toml"))
    parser.add_argument("--workers", type=int, nargs="+", default=None, help="worker counts (default: 1 and every GPU)")
    parser.add_argument("--groups", type=int, default=None, help="keep the grid's first G groups")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import pandas as pd
    import torch

    from caught.config import load_config
    from caught.sweep import CELL_KEY

    cuda = args.device.startswith("cuda")
    counts = args.workers or [1, torch.cuda.device_count() if cuda else 2]
    if 1 not in counts:
        counts = [1, *counts]
    with tempfile.TemporaryDirectory() as tmp:
        if args.quick:
            from benchmarks.training_speed import tiny_llama

            os.environ["CAUGHT_DTYPE"] = "float32"  # rows comparable between runs
            config = quick_config(str(tiny_llama(Path(tmp) / "tiny-llama", initializer_range=0.3)))
        else:
            config = load_config(args.config)
        config = keep_groups(config, args.groups)
        cells = len(config.cells())
        runs, frames = {}, {}
        for n in counts:
            seconds, df = run(config, n, args.device, Path(tmp) / f"w{n}")
            runs[n] = {"seconds": round(seconds, 1), "cells": len(df), "cells_per_hour": 3600 * len(df) / seconds}
            frames[n] = df
        base = runs[1]["cells_per_hour"]
        for n, r in runs.items():
            r["speedup"] = r["cells_per_hour"] / base
            r["scaling"] = r["speedup"] / n
        keys = {n: sorted(map(tuple, df[CELL_KEY].astype(str).values.tolist())) for n, df in frames.items()}
        same_cells = all(k == keys[1] for k in keys.values())
        same_rows = None
        if not cuda:
            def stable(df):
                cols = sorted(c for c in df.columns if not any(v in c for v in VOLATILE))
                return df[cols].sort_values(CELL_KEY).reset_index(drop=True)

            try:
                for df in frames.values():
                    pd.testing.assert_frame_equal(stable(frames[1]), stable(df), check_dtype=False)
                same_rows = True
            except AssertionError:
                same_rows = False
    from caught.sweep import group_key

    groups = len({group_key(c) for c in config.cells()})
    print(f"\n{cells} cells in {groups} groups on {args.device}; same cells: {same_cells}"
          + (f", same rows: {same_rows}" if same_rows is not None else ""))
    print("| workers | seconds | cells/hour | speed-up | scaling (target >= 0.8) |\n|---|---|---|---|---|")
    for n, r in runs.items():
        print(f"| {n} | {r['seconds']:.0f} | {r['cells_per_hour']:.0f} | {r['speedup']:.2f} | {r['scaling']:.2f} |")
    if args.out:
        import ray
        import transformers

        from training.atomic import write_json

        device = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
        write_json(args.out, {"device": device, "gpus": torch.cuda.device_count() if cuda else 0,
                              "cpus": os.cpu_count(), "config": str(args.config) if not args.quick else "quick",
                              "groups": args.groups, "cells": cells, "runs": runs, "same_cells": same_cells,
                              "same_rows": same_rows, "versions": {"torch": torch.__version__, "ray": ray.__version__,
                                                                   "transformers": transformers.__version__},
                              "host": platform.node()})
        print(f"-> {args.out}")
    if not same_cells or same_rows is False:
        raise SystemExit("the worker counts gave different cells or rows (see above)")


if __name__ == "__main__":
    main()
