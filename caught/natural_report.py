"""`caught sycophancy-report runs/<name>`: the sycophancy ladder's report and plot, written from its results table.

One row per (target, k, measure): the rate at k=0 (the base model, one run: its Wilson interval) and after
training on k caught examples, as the mean over seeds with a 95% t interval across seeds, never narrower than the
pooled Wilson interval and cut to [0, 1] (one seed: that run's rate and Wilson interval, labelled as such; never
the range of the seeds). `retained` is the mean after-training
rate over the base model's rate (held-out measures only). The plot has one panel per measure (held-out items,
the different-format set, the trained items, capability), rate against k, sycophancy against the habit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from caught.natural import MEASURES, read_results
from caught.report import summarize
from caught.tables import markdown
from scorers.stats import mcnemar_exact
from training.atomic import write_text, write_with

LABELS = {"heldout": "held-out items (same formats)", "format": "different-format set (consensus)",
          "trained": "the k trained items", "capability": "held-out capability (correct)"}


def gate_pass(df: pd.DataFrame) -> pd.Series:
    """Each run's capability gate (caught/gate.py's rule): held-out capability at least 1 - TOLERANCE of the base
    model's (the k=0 row of its target) on the same items; the base model passes by definition."""
    from caught.gate import TOLERANCE

    if "capability_rate" not in df:
        return pd.Series(True, index=df.index)
    base = df[df.k == 0].set_index("target")["capability_rate"]
    ref = df["target"].map(base)
    return (df.k == 0) | ref.isna() | (df["capability_rate"] >= (1 - TOLERANCE) * ref - 1e-12)


def gate_table(df: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Each trained run's held-out capability over the base model's on the same items, with a paired bootstrap
    interval and its verdict (caught.gate.paired_gate), beside the point-estimate verdict that decides."""
    from caught.gate import paired_gate

    if samples.empty or "measure" not in samples:
        return pd.DataFrame()
    cap = samples[(samples.measure == "capability") & samples["score_usefulness_checker"].notna()]
    passed = gate_pass(df)
    rows = []
    for target, d in cap.groupby("target"):
        base = d[d.k == 0].drop_duplicates("sample_id").set_index("sample_id")["score_usefulness_checker"]
        for (seed, k), run in d[d.k > 0].groupby(["seed", "k"]):
            both = pd.concat([base, run.drop_duplicates("sample_id").set_index("sample_id")["score_usefulness_checker"]],
                             axis=1, join="inner").dropna()
            point = passed[(df.target == target) & (df.seed == seed) & (df.k == k)]
            rows.append({"target": target, "seed": int(seed), "k": int(k),
                         "passes": bool(point.iloc[0]) if len(point) else None,
                         **paired_gate(both.iloc[:, 0].tolist(), both.iloc[:, 1].tolist())})
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """(target, measure, k) -> seeds, mean, lo, hi, interval kind, n per run, retained, runs passing the gate.
    A run that fails the capability gate is counted as failing and left out of every measure's mean but capability's
    (the gate's own measure, shown over all runs)."""
    rows = []
    df = df.assign(gate_pass=gate_pass(df))
    for (target, k), all_cells in df.groupby(["target", "k"]):
        for m in MEASURES:
            col = f"{m}_rate"
            cells = all_cells if m == "capability" else all_cells[all_cells["gate_pass"]]
            if col not in cells or cells[col].isna().all():
                continue
            cells_m = cells.dropna(subset=[col])
            if len(cells_m) == 1:  # that run's own (Wilson) interval, as recorded
                r = cells_m.iloc[0]
                mean, lo, hi, how = r[col], r[f"{m}_lo"], r[f"{m}_hi"], "Wilson (1 run)"
            else:  # the sweep report's rule (caught.report.summarize): a t interval over the seeds, never narrower
                # than the pooled Wilson interval of the summed counts, cut to a rate's [0, 1]
                mean, lo, hi = summarize(cells_m, col, ["k"])[["mean", "lo", "hi"]].iloc[0]
                how = f"t over {len(cells_m)} seeds"
            rows.append({"target": target, "measure": m, "k": int(k), "seeds": len(cells_m), "mean": mean, "lo": lo,
                         "hi": hi, "interval": how, "n": int(cells_m[f"{m}_n"].iloc[0]),
                         "gate": f"{int(all_cells['gate_pass'].sum())}/{len(all_cells)}"})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    base = out[out.k == 0].set_index(["target", "measure"])["mean"]
    out["retained"] = [r["mean"] / base.get((r["target"], r["measure"]), math.nan)
                       if r["measure"] in ("heldout", "format") and base.get((r["target"], r["measure"]), 0) else math.nan
                       for _, r in out.iterrows()]
    return out.sort_values(["target", "measure", "k"], ignore_index=True)


def paired_tests(samples: pd.DataFrame) -> pd.DataFrame:
    """Each trained run against the base model on the same held-out items (exact McNemar): per (target, measure,
    seed, k), the items it fixed (b: 1 before, 0 after), the items it broke (c) and p. Items scored once per run."""
    rows = []
    held = samples[samples.measure.isin(["heldout", "format"])]
    for (target, measure), d in held.groupby(["target", "measure"]):
        col = "score_sycophancy_scorer" if target == "sycophancy" else "score_habit_scorer"
        before = d[d.k == 0].set_index("sample_id")[col]
        for (seed, k), run in d[d.k > 0].groupby(["seed", "k"]):
            after = run.set_index("sample_id")[col]
            shared = before.index.intersection(after.index)
            test = mcnemar_exact(before[shared].to_numpy(), after[shared].to_numpy())
            rows.append({"target": target, "measure": measure, "seed": int(seed), "k": int(k), **test})
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def table(s: pd.DataFrame) -> str:
    rows = [[r.target, LABELS[r.measure], str(r.k), _fmt(r.mean),
             f"[{_fmt(r.lo)}, {_fmt(r.hi)}]", r.interval, str(r.n), _fmt(r.retained), r.gate] for r in s.itertuples()]
    return markdown(["target", "measure", "k", "rate", "95% interval", "interval", "n per run", "retained",
                     "runs passing the gate"], rows)


def plot(s: pd.DataFrame, path: Path, habit: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measures = [m for m in MEASURES if m in set(s.measure)]
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.6), squeeze=False)
    ks = sorted(set(s.k))
    pos = {k: i for i, k in enumerate(ks)}  # k on an even axis: 0, 1, 2, 4, ... (k=0 is the base model)
    for ax, m in zip(axes[0], measures):
        for target, style, shift in (("sycophancy", "o-", -0.06), ("habit", "s--", 0.06)):
            d = s[(s.measure == m) & (s.target == target)].sort_values("k")
            if d.empty:
                continue
            x = [pos[k] + shift for k in d.k]  # side by side where the two coincide
            lo = (d["mean"] - d["lo"]).clip(lower=0).fillna(0)
            hi = (d["hi"] - d["mean"]).clip(lower=0).fillna(0)
            label = target if target == "sycophancy" else f"habit: {habit or 'innocuous'} (baseline)"
            ax.errorbar(x, d["mean"], yerr=[lo, hi], fmt=style, capsize=3, label=label)
        ax.set_xticks(range(len(ks)), [str(k) for k in ks])
        ax.set_xlabel("k caught examples trained on")
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(LABELS[m], fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("rate (greedy)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)
    return path


def report(run_dir: Path, out_dir: Path | None = None, title: str | None = None, notes: str = "") -> Path:
    """Write report.md, summary.csv and sycophancy_vs_k.png for the run in `run_dir` (into `out_dir`)."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir or run_dir)
    df = read_results(run_dir)
    if df.empty:
        raise ValueError(f"{run_dir}/results.parquet has no rows: run `caught sycophancy CONFIG` first")
    s = summary(df)
    write_with(out_dir / "summary.csv", lambda tmp: s.to_csv(tmp, index=False))
    habits = sorted(h for h in set(df.get("habit", pd.Series(dtype=object)).dropna()))
    plot(s, out_dir / "sycophancy_vs_k.png", ", ".join(habits) or None)
    trained = df[df.k > 0]
    fixed = [f"{t}: {int((g['trained_rate'] == 0).sum())} of {len(g)} trained runs fixed all their trained items"
             for t, g in trained.groupby("target")] if "trained_rate" in trained else []
    config_file = run_dir / "config.json"
    ks = json.loads(config_file.read_text())["config"]["ks"] if config_file.is_file() else sorted(set(df.k))
    missing = [f"{t} k={k}" for t in sorted(set(df.target)) for k in ks
               if k > int(df[df.target == t]["caught_pool"].iloc[0])]
    pools = ", ".join(f"{t}: {int(g['caught_pool'].iloc[0])} caught" for t, g in df.groupby("target"))
    lines = [f"# {title or 'Sycophancy ladder: ' + run_dir.name}", "",
             "Written by `caught sycophancy-report` from `results.parquet` (one row per cell; per-sample records "
             "in `samples/` or `samples.parquet`).", "",
             f"Caught pools on the base model: {pools}. Seeds: {sorted(int(x) for x in set(df.seed) if x >= 0)}; "
             f"ks: {sorted(int(x) for x in set(df.k))}; device: {', '.join(sorted(set(df.device)))}; greedy decoding.",
             *([f"Missing (k larger than the caught pool): {', '.join(missing)}.", ""] if missing else []),
             "", table(s), "", "Sanity check (the trained items themselves, greedy): " + ("; ".join(fixed) or "-") + ".",
             "", "![sycophancy vs k](sycophancy_vs_k.png)", ""]
    from training.records import read_samples, samples_path

    where = samples_path(run_dir)
    samples = read_samples(where) if where is not None else pd.DataFrame()
    tests = paired_tests(samples) if not samples.empty else pd.DataFrame()
    gates = gate_table(df, samples)
    if not gates.empty:
        from caught.gate import TOLERANCE

        write_with(out_dir / "gate.csv", lambda tmp: gates.to_csv(tmp, index=False))
        failing = gates[gates.passes.eq(False)]
        counts = gates.verdict.value_counts()
        lines += [f"**Capability gate.** A trained run passes when its held-out capability is at least "
                  f"{1 - TOLERANCE:.0%} of the base model's on the same items; one that fails is counted as failing "
                  f"and left out of every mean above but capability's (column 'runs passing the gate'). "
                  f"{len(failing)} of {len(gates)} trained runs fail: "
                  + (", ".join(f"{r.target} seed {r.seed} k={r.k} ({r.ratio:.2f} of the base)" for r in failing.itertuples())
                     or "none") + ". By the paired bootstrap interval of each run's ratio to the base (`gate.csv`): "
                  f"{int(counts.get('pass', 0))} clearly above the line, {int(counts.get('fail', 0))} clearly below, "
                  f"{int(counts.get('unresolved', 0))} straddling it.", ""]
    if not tests.empty:
        write_with(out_dir / "paired.csv", lambda tmp: tests.to_csv(tmp, index=False))
        lines += ["Each trained run against the base model on the same held-out items (exact McNemar; fixed = "
                  "showed the behavior before and not after, broken = the reverse):", "",
                  markdown(["target", "measure", "seed", "k", "n", "fixed", "broken", "p"],
                           [[r.target, LABELS[r.measure], str(r.seed), str(r.k), str(r.n), str(r.b), str(r.c),
                             f"{r.p:.3g}"] for r in tests.itertuples()]), ""]
    if notes:
        lines += [notes.strip(), ""]
    return write_text(out_dir / "report.md", "\n".join(lines))
