"""Does a habit run at k=1 remove the habit, or copy its one trained response? A check on the habit baseline.

    python experiments/habit_copying.py results/sycophancy/ladder-gpu results/sycophancy/list-cpu

For each habit run at k=1 of a ladder run directory (results.parquet, caught-habit.json, per-sample records), the
share of its held-out answers that share a run of 6 words with the one corrected response it was trained on, with a
95% Wilson interval, beside the same share for the base model's answers (k=0) on the same items (the reference: a
6-word run shared by chance or by a common phrasing).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

from scorers.stats import wilson
from training.records import read_samples, samples_path


def grams(text: str, n: int = 6) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def copying(run: Path) -> list[dict]:
    df = pd.read_parquet(run / "results.parquet")
    pool = {c["id"]: c for c in json.loads((run / "caught-habit.json").read_text())["caught"]}
    samples = read_samples(samples_path(run))
    held = samples[(samples.measure == "heldout") & (samples.target == "habit")]
    rows = []
    for r in df[(df.target == "habit") & (df.k == 1)].itertuples():
        (trained_id,) = json.loads(r.trained_ids)
        shared = grams(pool[trained_id]["corrected"])
        for label, sub in (("base (k=0)", held[held.k == 0]), ("k=1", held[(held.k == 1) & (held.seed == r.seed)])):
            count = sum(bool(grams(t) & shared) for t in sub.completion)
            lo, hi = wilson(count, len(sub))
            rows.append({"run": run.name, "seed": int(r.seed), "model": label, "n": len(sub), "count": count,
                         "share": round(count / len(sub), 3), "lo": round(lo, 3), "hi": round(hi, 3)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args()
    print(pd.DataFrame([row for run in args.runs for row in copying(run)]).to_string(index=False))


if __name__ == "__main__":
    main()
