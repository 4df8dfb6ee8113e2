"""Every candidate habit's rate on the base model, from `tasks/habit` logs, with Wilson intervals, as a CSV.

    python experiments/habit_candidates.py runs/sycophancy-cpu/logs/*_habit_*.eval --out results/sycophancy/ladder-cpu/habit_candidates.csv

One row per (log, habit): the log's split and model, n responses, how many show the habit, the rate and its 95%
Wilson interval. Verdicts are recomputed from each response with the current detectors (scorers/habit.py), so
the candidates are measured on the same responses; a log of another task is refused.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from scorers.habit import HABITS
from scorers.stats import wilson

FIELDS = ["split", "habit", "n", "count", "rate", "ci_low", "ci_high", "model", "max_tokens", "log"]


def rows_of(log_path: str) -> list[dict]:
    from inspect_ai.log import read_eval_log

    log = read_eval_log(log_path)
    if log.eval.task.removeprefix("tasks/") != "habit" or log.status != "success":
        raise ValueError(f"{log_path} is not a finished tasks/habit log (task {log.eval.task}, status {log.status})")
    texts = [s.output.completion for s in log.samples or []]
    out = []
    for h in HABITS.values():
        count = sum(h.detect(t)[0] for t in texts)
        lo, hi = wilson(count, len(texts))
        out.append({"split": (log.eval.task_args or {}).get("split"), "habit": h.name, "n": len(texts), "count": count,
                    "rate": round(count / len(texts), 4), "ci_low": round(lo, 4), "ci_high": round(hi, 4),
                    "model": log.eval.model, "max_tokens": log.plan.config.max_tokens, "log": Path(log_path).name})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = [r for log in args.logs for r in rows_of(log)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(f"{r['split']:6s} {r['habit']:14s} n={r['n']:4d} {r['rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]")


if __name__ == "__main__":
    main()
