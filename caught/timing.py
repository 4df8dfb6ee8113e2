"""What one device command of a sweep measured: the cells it finished, their phases and its wall time.

`experiments/gpu_sweep.sh` runs a sweep's shards for a time budget, then calls this module: it prints the run's
rows and the phases of the cells this command finished and of the whole run, and appends one line to
`RUN/timing.jsonl` (one line per command; it travels with the run directory, so a grid's timing is committed with
its results). A group's phases (organism, judges and probes, catch) are counted once, by the command that wrote the
group's first cell (k = 0): every row of a group repeats them, and a group resumed by a later command must not count
them again there.

    python3 -m caught.timing runs/headline --start 1796658290 --end 1796658770 --workers 6 --budget 515 \
        --config experiments/headline.toml --threads 2 --device "NVIDIA H100 80GB HBM3"
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

GROUP_PHASES = ("organism_seconds", "judge_seconds", "catch_seconds")
CELL_PHASES = ("train_seconds", "eval_pack_seconds", "eval_seconds", "eval_inspect_seconds", "eval_records_seconds",
               "eval_tf_seconds", "cell_seconds")
SHOWN = ["scenario", "seed", "k", "training", "status", "deployment_rate", "deployment_nm_rate", "testing_rate",
         "trained_before_rate", "trained_rate", "tf_deployment", "useful_all", "capability_all", "gate_pass",
         "train_loss", "cell_seconds"]


def phases(rows: pd.DataFrame) -> dict:
    """Cells, groups started and phase seconds (summed over processes) of `rows`: each group's phases once, from its
    k = 0 row."""
    key = [c for c in ("scenario", "behavior", "seed", "organism_steps") if c in rows]
    groups = rows[rows["training"] == "none"].drop_duplicates(key)
    return {"cells": int(len(rows)), "groups_started": int(len(groups)),
            "group_phases_s": {c: round(float(groups[c].sum()), 1) for c in GROUP_PHASES if c in groups},
            "cell_phases_s": {c: round(float(rows[c].sum()), 1) for c in CELL_PHASES if c in rows}}


def since(df: pd.DataFrame, start: int) -> pd.DataFrame:
    """The rows finished at or after `start` (Unix seconds): the cells one command finished (a resumed run's file also
    holds earlier commands' rows)."""
    if "finished_at" not in df:
        raise ValueError(f"the results have no finished_at column (columns: {', '.join(df.columns)}); the rows of one "
                         "command cannot be told from the others")
    return df[pd.to_datetime(df["finished_at"], utc=True) >= pd.Timestamp(int(start), unit="s", tz="UTC")]


def command_line(df: pd.DataFrame, start: int, end: int, workers: int, budget: int, config: str, threads: int,
                 device: str | None) -> dict:
    """The timing.jsonl line of one command (`df`: the run's results): its settings, its sweep wall time and its
    cells' phases."""
    return {"config": config, "device": device or None, "workers": workers, "threads_per_shard": threads,
            "budget_s": budget, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
            "sweep_wall_s": end - start, "this_command": phases(since(df, start))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="the run directory (holds results.parquet)")
    ap.add_argument("--start", type=int, required=True, help="when the command's sweep started (Unix seconds)")
    ap.add_argument("--end", type=int, required=True, help="when its shards ended (Unix seconds)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--budget", type=int, default=0)
    ap.add_argument("--config", default="")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads per shard")
    ap.add_argument("--device", default="")
    args = ap.parse_args(argv)
    if args.end < args.start:
        raise SystemExit(f"--end {args.end} is before --start {args.start}: pass the Unix seconds the shards ended")
    path = args.run / "results.parquet"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: no cell of this run has finished")
    df = pd.read_parquet(path)
    print(df[[c for c in SHOWN if c in df]].to_string())
    line = command_line(df, args.start, args.end, args.workers, args.budget, args.config, args.threads, args.device)
    for label, p in (("this command", line["this_command"]), ("whole run", phases(df))):
        print(f"{label}: {p['cells']} cells, {p['groups_started']} groups; group phases (s): {p['group_phases_s']} "
              f"cell phases (s): {p['cell_phases_s']}")
    with open(args.run / "timing.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")
    print(f"sweep wall {line['sweep_wall_s']} s; appended to {args.run / 'timing.jsonl'}")


if __name__ == "__main__":
    main()
