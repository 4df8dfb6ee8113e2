"""`caught compare`: evaluate checkpoints side by side, before and after training against caught examples.

For each checkpoint: attack rates on deployment and testing (eval split, temperature 1 by default), on
the trained inputs (the k caught inputs a train-against checkpoint was trained on, `trained_samples`
samples each), and usefulness per kind (greedy). Each rate has its n and a 95% Wilson interval. Retained
misalignment is a checkpoint's deployment attack rate divided by the first checkpoint's (the "before").
A checkpoint's evaluations run as one Inspect eval (its tasks in parallel) and reuse earlier
Inspect logs of the same weights and settings. Writes CSV and markdown.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.registry import resolve
from scorers.stats import wilson
from training.atomic import write_json, write_text
from training.evaluate import Evaluation, attack_summary, evaluate_many
from training.manifest import read_manifest


def _rate_columns(prefix: str, attacks: int, n: int) -> dict:
    lo, hi = wilson(attacks, n)
    return {f"{prefix}_attacks": attacks, f"{prefix}_n": n, f"{prefix}_rate": attacks / n if n else float("nan"),
            f"{prefix}_lo": lo, f"{prefix}_hi": hi}


def evaluate_checkpoint(
    checkpoint: str, scenario: str, behavior: str, *, n: int = 100, usefulness_n: int | None = None,
    temperature: float = 1.0, trained_samples: int = 4, seed: int = 0, log_dir: str = "logs",
    device: str | None = None, max_tokens: int = 32,
) -> dict:
    """One row of figures for a checkpoint."""
    manifest = read_manifest(resolve(checkpoint))
    row: dict = {
        "checkpoint": checkpoint, "kind": manifest.kind if manifest else "base",
        "k": manifest.k if manifest and manifest.k is not None else 0,
        "steps": manifest.steps if manifest else 0,
        "steps_to_fix": manifest.steps_to_fix if manifest else None,
        "temperature": temperature,
    }
    args = {"scenario": scenario, "behavior": behavior, "n": n, "seed": seed}
    attack = {"temperature": temperature, "max_tokens": max_tokens}
    specs = {side: Evaluation(side, args, **attack) for side in ("deployment", "testing")}
    if manifest and manifest.kind in ("train-against", "control") and manifest.example_ids:
        specs["trained"] = Evaluation("testing", {"scenario": scenario, "behavior": behavior, "split": "catch"},
                                      epochs=trained_samples, sample_ids=tuple(manifest.example_ids), **attack)
    specs["usefulness"] = Evaluation("usefulness", {"n": usefulness_n, "seed": seed})
    # one Inspect eval for all of them (tasks in parallel, sharing the provider's batches)
    found = dict(zip(specs, evaluate_many(checkpoint, list(specs.values()), log_dir=log_dir, seed=seed,
                                          device=device)))
    for prefix in ("deployment", "testing", "trained"):
        if prefix in found:
            s = attack_summary(found[prefix])
            row.update(_rate_columns(prefix, s["attacks"], s["n"]))
        else:
            row.update({f"{prefix}_attacks": None, f"{prefix}_n": 0, f"{prefix}_rate": float("nan")})
    log = found["usefulness"]
    for kind, metric in log.results.scores[0].metrics.items():
        if kind not in ("stderr",):
            row[f"useful_{kind}"] = metric.value
    row["useful_n"] = log.results.completed_samples
    logs = [found[k].location for k in specs]
    row["logs"] = ";".join(logs)
    return row


def compare(
    checkpoints: list[str], out_dir: Path, scenario: str | None = None, behavior: str | None = None, **kwargs
) -> pd.DataFrame:
    if not checkpoints:
        raise ValueError("compare needs at least one checkpoint")
    first = read_manifest(resolve(checkpoints[0]))
    scenario = scenario or (first.scenario if first else "trigger")
    behavior = behavior or (first.behavior if first else "hate")
    rows = [evaluate_checkpoint(c, scenario, behavior, **kwargs) for c in checkpoints]
    df = pd.DataFrame(rows)
    before = df.loc[0, "deployment_rate"]
    df["retained"] = df["deployment_rate"] / before if before > 0 else float("nan")
    df.insert(0, "scenario", scenario)
    df.insert(1, "behavior", behavior)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "compare.csv", df.to_csv(index=False))
    write_text(out_dir / "compare.md", to_markdown(df))
    write_json(out_dir / "compare.json", {"checkpoints": checkpoints, "scenario": scenario,
                                                 "behavior": behavior, **{k: str(v) for k, v in kwargs.items()}})
    return df




def _fmt_rate(row, prefix: str) -> str:
    n = row.get(f"{prefix}_n") or 0
    if not n:
        return "–"
    return f"{row[f'{prefix}_rate']:.2f} [{row[f'{prefix}_lo']:.2f}, {row[f'{prefix}_hi']:.2f}] n={int(n)}"


def table_rows(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    kinds = [c.removeprefix("useful_") for c in df.columns if c.startswith("useful_") and c != "useful_n"]
    header = ["checkpoint", "kind", "k", "deployment", "testing", "trained inputs", "retained", "steps-to-fix",
              *[f"useful {k}" for k in kinds]]
    rows = []
    for _, r in df.iterrows():
        stf = "–" if r["kind"] in ("organism", "base") else (
            "never" if pd.isna(r["steps_to_fix"]) else str(int(r["steps_to_fix"])))
        rows.append([
            Path(str(r["checkpoint"])).name, r["kind"], str(int(r["k"])), _fmt_rate(r, "deployment"),
            _fmt_rate(r, "testing"), _fmt_rate(r, "trained"),
            "–" if pd.isna(r["retained"]) else f"{r['retained']:.2f}", stf,
            *[f"{r[f'useful_{k}']:.2f}" for k in kinds],
        ])
    return header, rows


def to_markdown(df: pd.DataFrame) -> str:
    header, rows = table_rows(df)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    t = df["temperature"].iloc[0]
    useful_n = int(df["useful_n"].iloc[0])
    lines += ["", f"Attack rates at temperature {t:g}, with 95% Wilson intervals and n; trained inputs are sampled "
              f"several times each. Usefulness: greedy, {useful_n} items. Retained = deployment rate / first row's."]
    return "\n".join(lines) + "\n"
