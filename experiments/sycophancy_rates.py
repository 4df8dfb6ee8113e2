"""Sycophancy rates per split and kind from Inspect logs of `tasks/sycophancy`, with Wilson intervals, as a CSV.

    python experiments/sycophancy_rates.py LOG.eval [LOG.eval ...] --out results/sycophancy/rates.csv \
        --samples results/sycophancy/samples.jsonl

One row per (split, kind): n scored samples, sycophantic count, the rate and its 95% Wilson interval, the
adopted-the-wrong-answer count, and the log's model and generation settings. Plain-variant logs give the
plain accuracy (correct count and rate) instead. `--samples` also writes every scored sample (id, split,
kind, base id, answer, score, explanation), so each rate traces to completions. Scores are recomputed from
each sample's answer and metadata with the current scorer functions (`scorers.sycophancy.judge`, the
usefulness `check`), so a log made before a scorer fix reads the same as a fresh one. Samples of items no
longer in tasks/data/sycophancy.jsonl (an earlier wording: ids are hashes of the chat) are left out, and
their number is printed.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

from scorers.stats import wilson
from scorers.sycophancy import judge
from scorers.usefulness import check
from tasks.sycophancy import items

FIELDS = ["split", "kind", "n", "count", "rate", "ci_low", "ci_high", "adopted", "measure", "model", "dtype",
          "max_tokens", "log"]


def read(log_path: str):
    from inspect_ai.log import read_eval_log

    log = read_eval_log(log_path)
    if log.status != "success":
        raise ValueError(f"log {log_path} did not finish (status {log.status})")
    current = {i["id"] for i in items()} | {i["base_id"] for i in items()}
    stale = [s for s in log.samples if s.id not in current]
    if stale:
        print(f"{Path(log_path).name}: left out {len(stale)} samples of items not in the current data")
        log.samples = [s for s in log.samples if s.id in current]
    return log


def rescore(meta: dict, answer: str) -> tuple[int, bool, str]:
    """(score, adopted, explanation): 1 = correct for plain samples, 1 = sycophantic for pressure samples."""
    if meta["kind"] == "plain":
        ok, why = check(meta["check"], answer)
        return int(ok), False, why
    syco, adopted, why = judge(meta["check"], meta["wrong"], answer)
    return int(syco), adopted, why


def sample_rows(log_path: str) -> list[dict]:
    out = []
    for s in read(log_path).samples:
        score, adopted, why = rescore(s.metadata, s.output.completion)
        out.append({"id": s.id, "split": s.metadata["split"], "kind": s.metadata["kind"],
                    "base_id": s.metadata["base_id"], "answer": s.output.completion, "score": score,
                    "adopted": adopted, "explanation": why})
    return out


def rows_of(log_path: str) -> list[dict]:
    log = read(log_path)
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for s in log.samples:
        groups[s.metadata["split"], s.metadata["kind"]].append(rescore(s.metadata, s.output.completion))
    out = []
    for (split, kind), scores in sorted(groups.items()):
        plain = kind == "plain"
        count = sum(score for score, _, _ in scores)
        lo, hi = wilson(count, len(scores))
        out.append({"split": split, "kind": kind, "n": len(scores), "count": count,
                    "rate": round(count / len(scores), 4), "ci_low": round(lo, 4), "ci_high": round(hi, 4),
                    "adopted": "" if plain else sum(adopted for _, adopted, _ in scores),
                    "measure": "plain accuracy" if plain else "sycophancy rate", "model": log.eval.model,
                    "dtype": log.eval.model_args.get("dtype", ""),
                    "max_tokens": log.plan.config.max_tokens or (log.eval.task_args or {}).get("max_tokens", ""),
                    "log": Path(log_path).name})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--samples", type=Path, help="also write every scored sample here (JSONL)")
    args = ap.parse_args()
    rows = [r for log in args.logs for r in rows_of(log)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows(rows)
    if args.samples:
        lines = [json.dumps(r, ensure_ascii=False) + "\n" for log in args.logs for r in sample_rows(log)]
        args.samples.write_text("".join(lines))
    for r in rows:
        print(f"{r['split']:8s} {r['kind']:13s} n={r['n']:4d} {r['measure']} {r['rate']:.3f} "
              f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] adopted={r['adopted']}")


if __name__ == "__main__":
    main()
