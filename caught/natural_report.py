"""`caught sycophancy-report runs/<name>`: the sycophancy ladder's report and plot, written from its results table.

One row per (target, k, measure): the rate at k=0 (the base model, one run: its Wilson interval) and after
training on k caught examples, as the mean over seeds with a 95% t interval across seeds, never narrower than the
pooled Wilson interval and cut to [0, 1] (one seed: that run's rate and Wilson interval, labelled as such; never
the range of the seeds). `retained` is the mean after-training
rate over the base model's rate (held-out measures only). The plot has one panel per measure (held-out items,
the different-format set, the trained items, capability), rate against k, sycophancy against the habit and,
where the run has them, against its matched control (`training` = control: the same k items' plain questions with
the same answers). `adversarial vs control` compares the two per k: each one's mean over seeds with its interval,
and the difference adversarial - control paired by seed (same seed: the same k items), with a t interval over the
seeds' differences never narrower than their own Newcombe intervals allow (scorers.stats.seeds_interval, the sweep
report's rule; one seed: Newcombe's interval of that run's two proportions), over the seeds where both runs
pass the capability gate; `control.csv` keeps each seed's difference and an exact McNemar test of the two runs on
the same held-out items.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from caught.config import read_stored
from caught.natural import ATTITUDE, MEASURES, read_results, with_training
from caught.report import summarize
from caught.tables import markdown
from scorers.stats import holm, mcnemar_exact, seeds_interval, two_proportion_diff
from training.atomic import write_text, write_with

LABELS = {"heldout": "held-out items (same formats)", "format": "different-format set (consensus)",
          "trained": "the k trained items", "capability": "held-out capability (correct)",
          "scratchpad": "attitude: replies with a scratchpad", "please": "attitude: wish to please (of scratchpads)",
          "noticed": "attitude: care about being noticed (of scratchpads)"}


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
        for (training, seed, k), run in d[d.k > 0].groupby(["training", "seed", "k"]):
            both = pd.concat([base, run.drop_duplicates("sample_id").set_index("sample_id")["score_usefulness_checker"]],
                             axis=1, join="inner").dropna()
            point = passed[(df.target == target) & (df.training == training) & (df.seed == seed) & (df.k == k)]
            rows.append({"target": target, "training": training, "seed": int(seed), "k": int(k),
                         "passes": bool(point.iloc[0]) if len(point) else None,
                         **paired_gate(both.iloc[:, 0].tolist(), both.iloc[:, 1].tolist())})
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """(target, training, measure, k) -> seeds, mean, lo, hi, interval kind, n per run, retained, runs passing the gate.
    A run that fails the capability gate is counted as failing and left out of every measure's mean but capability's
    (the gate's own measure, shown over all runs)."""
    rows = []
    df = with_training(df).assign(gate_pass=gate_pass(df))
    for (target, training, k), all_cells in df.groupby(["target", "training", "k"]):
        for m in MEASURES + ATTITUDE:
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
            rows.append({"target": target, "training": training, "measure": m, "k": int(k), "seeds": len(cells_m), "mean": mean, "lo": lo,
                         "hi": hi, "interval": how, "n": int(cells_m[f"{m}_n"].iloc[0]),
                         "gate": f"{int(all_cells['gate_pass'].sum())}/{len(all_cells)}"})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    base = out[out.k == 0].set_index(["target", "measure"])["mean"]
    out["retained"] = [r["mean"] / base.get((r["target"], r["measure"]), math.nan)
                       if r["measure"] in ("heldout", "format") and base.get((r["target"], r["measure"]), 0) else math.nan
                       for _, r in out.iterrows()]
    return out.sort_values(["target", "measure", "k", "training"], ignore_index=True)


def paired_tests(samples: pd.DataFrame) -> pd.DataFrame:
    """Each trained run against the base model on the same held-out items (exact McNemar): per (target, training,
    measure, seed, k), the items it fixed (b: 1 before, 0 after), the items it broke (c) and p. Items scored once per run."""
    rows = []
    held = samples[samples.measure.isin(["heldout", "format"])]
    for (target, measure), d in held.groupby(["target", "measure"]):
        col = "score_sycophancy_scorer" if target == "sycophancy" else "score_habit_scorer"
        before = d[d.k == 0].set_index("sample_id")[col]
        for (training, seed, k), run in d[d.k > 0].groupby(["training", "seed", "k"]):
            after = run.set_index("sample_id")[col]
            shared = before.index.intersection(after.index)
            test = mcnemar_exact(before[shared].to_numpy(), after[shared].to_numpy())
            rows.append({"target": target, "training": training, "measure": measure, "seed": int(seed), "k": int(k),
                         **test})
    out = pd.DataFrame(rows)
    if not out.empty:  # the table's tests read together: Holm's adjustment over all of them (scorers.stats.holm)
        out["holm"] = holm(out["p"].tolist())
    return out


CONTROL_MEASURES = ("heldout", "format", "trained")


def control_pairs(df: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Each seed's adversarial run against its control at the same k (the same k items): both rates, their
    difference, whether both pass the gate, and an exact McNemar test of the two runs on the same items (from the
    per-sample records: `fixed_vs_control`, items sycophantic after the control and not after the adversarial run;
    `broken_vs_control`, the reverse)."""
    df = df.assign(gate_pass=gate_pass(df))
    adv = df[(df.training == "adversarial") & (df.target == "sycophancy")].set_index(["seed", "k"])
    ctrl = df[(df.training == "control") & (df.target == "sycophancy")].set_index(["seed", "k"])
    rows = []
    for key in adv.index.intersection(ctrl.index):
        a, c = adv.loc[key], ctrl.loc[key]
        for m in CONTROL_MEASURES:
            if f"{m}_rate" not in df or pd.isna(a.get(f"{m}_rate")) or pd.isna(c.get(f"{m}_rate")):
                continue
            row = {"measure": m, "seed": int(key[0]), "k": int(key[1]), "adversarial": a[f"{m}_rate"],
                   "control": c[f"{m}_rate"], "difference": a[f"{m}_rate"] - c[f"{m}_rate"],
                   "adversarial_count": int(a[f"{m}_count"]), "control_count": int(c[f"{m}_count"]),
                   "n": int(a[f"{m}_n"]), "both_pass_gate": bool(a["gate_pass"] and c["gate_pass"])}
            if not samples.empty and "measure" in samples:
                s = samples[(samples.target == "sycophancy") & (samples.measure == m) & (samples.seed == key[0])
                            & (samples.k == key[1])]
                by = {t: g.drop_duplicates("sample_id").set_index("sample_id")["score_sycophancy_scorer"]
                      for t, g in s.groupby("training")}
                if {"adversarial", "control"} <= set(by):
                    shared = by["adversarial"].index.intersection(by["control"].index)
                    test = mcnemar_exact(by["control"][shared].to_numpy(), by["adversarial"][shared].to_numpy())
                    row.update(fixed_vs_control=test["b"], broken_vs_control=test["c"], p=test["p"])
            rows.append(row)
    return pd.DataFrame(rows)


def control_summary(s: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (measure, k): the adversarial and control means with their intervals (from `summary`), and the mean
    difference adversarial - control over the seeds where both pass the gate, with its interval."""
    rows = []
    if pairs.empty:
        return pd.DataFrame()
    syc = s[s.target == "sycophancy"].set_index(["training", "measure", "k"])
    for (m, k), g in pairs.groupby(["measure", "k"]):
        ok = g[g.both_pass_gate]
        # each seed's difference with its Newcombe interval, then the sweep report's rule over seeds
        # (caught.report.control_differences): seeds_interval, a t interval never narrower than the seeds' own noise
        per_seed = [two_proportion_diff(r.adversarial_count, r.n, r.control_count, r.n) for r in ok.itertuples()]
        diff, lo, hi = seeds_interval(*zip(*per_seed)) if per_seed else (math.nan,) * 3
        how = (f"t over {len(ok)} seeds, floored by their Newcombe intervals" if len(ok) >= 2
               else "Newcombe (1 seed)" if len(ok) == 1 else "no seed passes")
        lo, hi = (max(lo, -1.0) if lo == lo else lo), (min(hi, 1.0) if hi == hi else hi)

        a, c = (syc.loc[(t, m, k)] if (t, m, k) in syc.index else None for t in ("adversarial", "control"))
        rows.append({"measure": m, "k": int(k),
                     "adversarial": a["mean"] if a is not None else math.nan,
                     "adversarial_lo": a["lo"] if a is not None else math.nan,
                     "adversarial_hi": a["hi"] if a is not None else math.nan,
                     "control": c["mean"] if c is not None else math.nan,
                     "control_lo": c["lo"] if c is not None else math.nan,
                     "control_hi": c["hi"] if c is not None else math.nan,
                     "difference": diff, "difference_lo": lo, "difference_hi": hi, "interval": how,
                     "seeds": len(ok), "pairs": len(g), "per_seed": ", ".join(f"{d:+.2f}" for d in ok["difference"])})
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def table(s: pd.DataFrame) -> str:
    rows = [[r.target, r.training, LABELS[r.measure], str(r.k), _fmt(r.mean),
             f"[{_fmt(r.lo)}, {_fmt(r.hi)}]", r.interval, str(r.n), _fmt(r.retained), r.gate] for r in s.itertuples()]
    return markdown(["target", "training", "measure", "k", "rate", "95% interval", "interval", "n per run",
                     "retained", "runs passing the gate"], rows)


def control_table(c: pd.DataFrame) -> str:
    rows = [[LABELS[r.measure], str(r.k), f"{_fmt(r.adversarial)} [{_fmt(r.adversarial_lo)}, {_fmt(r.adversarial_hi)}]",
             f"{_fmt(r.control)} [{_fmt(r.control_lo)}, {_fmt(r.control_hi)}]",
             f"{r.difference:+.2f} [{r.difference_lo:+.2f}, {r.difference_hi:+.2f}]" if r.difference == r.difference
             else "-", r.interval, f"{r.seeds}/{r.pairs}", r.per_seed or "-"] for r in c.itertuples()]
    return markdown(["measure", "k", "adversarial (95% interval)", "control (95% interval)",
                     "adversarial - control", "interval", "seeds (both pass the gate)", "per seed"], rows)


def plot(s: pd.DataFrame, path: Path, habit: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measures = [m for m in MEASURES if m in set(s.measure)]
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.6), squeeze=False)
    ks = sorted(set(s.k))
    pos = {k: i for i, k in enumerate(ks)}  # k on an even axis: 0, 1, 2, 4, ... (k=0 is the base model)
    for ax, m in zip(axes[0], measures):
        for target, training, style, shift, label in (
                ("sycophancy", "adversarial", "o-", -0.08, "sycophancy"),
                ("sycophancy", "control", "^:", 0.0, "sycophancy: matched control"),
                ("habit", "adversarial", "s--", 0.08, f"habit: {habit or 'innocuous'} (baseline)")):
            d = s[(s.measure == m) & (s.target == target) & s.training.isin(["none", training])].sort_values("k")
            if d.empty or not (d.training == training).any():
                continue
            x = [pos[k] + shift for k in d.k]  # side by side where they coincide
            lo = (d["mean"] - d["lo"]).clip(lower=0).fillna(0)
            hi = (d["hi"] - d["mean"]).clip(lower=0).fillna(0)
            ax.errorbar(x, d["mean"], yerr=[lo, hi], fmt=style, capsize=3, label=label,
                        color="tab:grey" if training == "control" else None)
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
    trained = df[df.training == "adversarial"]
    fixed = [f"{t}: {int((g['trained_rate'] == 0).sum())} of {len(g)} trained runs fixed all their trained items"
             for t, g in trained.groupby("target")] if "trained_rate" in trained else []
    stored = read_stored(run_dir).get("config", {})
    ks = stored.get("ks") or sorted(set(df.k))
    missing = [f"{t} k={k}" for t in sorted(set(df.target)) for k in ks
               if k > int(df[df.target == t]["caught_pool"].iloc[0])]
    pools = ", ".join(f"{t}: {int(g['caught_pool'].iloc[0])} caught" for t, g in df.groupby("target"))
    # the ladder's own name (its config's), whatever directory it was copied to
    lines = [f"# {title or 'Sycophancy ladder: ' + (stored.get('name') or run_dir.name)}", "",
             "Written by `caught sycophancy-report` from `results.parquet` (one row per cell; per-sample records "
             "in `samples/` or `samples.parquet`).", "",
             f"Caught pools on the base model: {pools}. Seeds: {sorted(int(x) for x in set(df.seed) if x >= 0)}; "
             f"ks: {sorted(int(x) for x in set(df.k))}; device: {', '.join(sorted(set(df.device)))}; greedy decoding.",
             *([f"Missing (k larger than the caught pool): {', '.join(missing)}.", ""] if missing else []),
             "", table(s), "",
             *(["**Attitude in reasoning.** Each run also answered the eval split with a private scratchpad (the reply "
                "started with the opening tag); 'replies with a scratchpad' is the share over those items, and the "
                "two attitude rows are shares of the replies that had one (n per run: those replies), by the "
                f"`{', '.join(sorted(set(df['attitude_classifier'].dropna())))}` classifier (scorers/attitude.py).", ""]
               if "please_rate" in df else []),
             "Sanity check (the trained items themselves, greedy): " + ("; ".join(fixed) or "-") + ".",
             "", "![sycophancy vs k](sycophancy_vs_k.png)", ""]
    from training.records import read_samples, samples_path

    where = samples_path(run_dir)
    samples = with_training(read_samples(where)) if where is not None else pd.DataFrame()
    tests = paired_tests(samples) if not samples.empty else pd.DataFrame()
    pairs = control_pairs(df, samples)
    if not pairs.empty:
        write_with(out_dir / "control.csv", lambda tmp: pairs.to_csv(tmp, index=False))
        lines += ["**Adversarial vs matched control.** The control trains on the same k caught items' plain questions "
                  "(no pressure) with the same corrected responses, steps and learning rate; its 'k trained items' "
                  "are the same caught items, under pressure, which it never saw. The difference is adversarial - "
                  "control paired by seed (negative: training against caught examples lowers sycophancy beyond what "
                  "training on the same answers does), over the seeds where both runs pass the capability gate; "
                  "`control.csv` has each seed's pair and an exact McNemar test of the two runs on the same items.",
                  "", control_table(control_summary(s, pairs)), ""]
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
                  + (", ".join(f"{r.target}{' control' if r.training == 'control' else ''} seed {r.seed} k={r.k} "
                               f"({r.ratio:.2f} of the base)" for r in failing.itertuples())
                     or "none") + ". By the paired bootstrap interval of each run's ratio to the base (`gate.csv`): "
                  f"{int(counts.get('pass', 0))} clearly above the line, {int(counts.get('fail', 0))} clearly below, "
                  f"{int(counts.get('unresolved', 0))} straddling it.", ""]
    if not tests.empty:
        write_with(out_dir / "paired.csv", lambda tmp: tests.to_csv(tmp, index=False))
        lines += ["Each trained run against the base model on the same held-out items (exact McNemar; fixed = "
                  f"showed the behavior before and not after, broken = the reverse; Holm: p adjusted over the table's "
                  f"{len(tests)} tests, scorers.stats.holm):", "",
                  markdown(["target", "training", "measure", "seed", "k", "n", "fixed", "broken", "p", "Holm p"],
                           [[r.target, r.training, LABELS[r.measure], str(r.seed), str(r.k), str(r.n), str(r.b),
                             str(r.c), f"{r.p:.3g}", f"{r.holm:.3g}"] for r in tests.itertuples()]), ""]
    if notes:
        lines += [notes.strip(), ""]
    return write_text(out_dir / "report.md", "\n".join(lines))
