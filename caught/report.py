"""`caught report runs/<name>`: report.md and plots from a sweep's results.parquet.

Figures: (a) retained misalignment vs distinguishability (one point per scenario, error bars over seeds);
(b) deployment attack rate vs k per scenario, with the testing attack rate and the trained inputs;
(c) usefulness before/after; (d) adversarial vs non-adversarial training at equal steps. Every caption says
what was measured and on what n. Intervals: 95% Wilson for one cell's proportion; across seeds, the mean
with a 95% percentile bootstrap over seeds (one seed: the cell's own Wilson interval).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd

from caught.sweep import read_results
from training.atomic import write_text, write_with

BOOTSTRAP = 2000


def seed_interval(values: list[float], seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean over seeds and a 95% percentile bootstrap interval of it."""
    vals = [v for v in values if v is not None and not np.isnan(v)]
    if not vals:
        return float("nan"), float("nan"), float("nan")
    mean = float(np.mean(vals))
    if len(vals) == 1:
        return mean, float("nan"), float("nan")
    rng = random.Random(seed)
    means = sorted(float(np.mean([rng.choice(vals) for _ in vals])) for _ in range(BOOTSTRAP))
    return mean, means[int(0.025 * BOOTSTRAP)], means[int(0.975 * BOOTSTRAP) - 1]


def summarize(df: pd.DataFrame, column: str, by: list[str]) -> pd.DataFrame:
    """Mean over seeds with an interval: bootstrap over seeds, or the cell's Wilson interval for one seed."""
    rows = []
    for key, g in df.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        mean, lo, hi = seed_interval(list(g[column]))
        if len(g) == 1 and f"{column.removesuffix('_rate')}_lo" in g and column.endswith("_rate"):
            lo, hi = float(g[f"{column.removesuffix('_rate')}_lo"].iloc[0]), float(g[f"{column.removesuffix('_rate')}_hi"].iloc[0])
        n_col = f"{column.removesuffix('_rate')}_n"
        n = int(g[n_col].fillna(0).sum()) if n_col in g else None
        rows.append({**dict(zip(by, key)), "mean": mean, "lo": lo, "hi": hi, "seeds": len(g), "n": n})
    return pd.DataFrame(rows)


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _err(sub: pd.DataFrame) -> np.ndarray | None:
    if sub["lo"].isna().all():
        return None
    return np.array([(sub["mean"] - sub["lo"]).clip(lower=0).fillna(0), (sub["hi"] - sub["mean"]).clip(lower=0).fillna(0)])


def report_k(df: pd.DataFrame) -> int:
    """The k the headline figure uses: the largest k that every scenario reached."""
    adv = _ok(df[df["training"] == "adversarial"])
    if adv.empty:
        return 0
    per = adv.groupby("scenario")["k"].max()
    return int(per.min())


def plot_retained(df: pd.DataFrame, path: Path) -> str:
    from tasks.scenarios import get_scenario

    plt = _plt()
    k = report_k(df)
    method = _main_method(df)
    adv = _ok(df[(df["training"] == "adversarial") & (df["k"] == k) & (df["method"] == method)])
    # a seed whose organism misses the bounds says little about hiding: where a scenario has usable seeds, the
    # point is theirs alone (the others are named in the caption); where it has none, it shows every seed, hollow
    good = usable_groups(df)
    in_good = adv.apply(lambda r: (r["scenario"], r["behavior"], r["seed"]) in good, axis=1).astype(bool)
    has_good = adv["scenario"].isin(set(adv.loc[in_good, "scenario"]))
    left_out = adv[has_good & ~in_good]
    adv = adv[in_good | ~has_good]
    usable = set(adv.loc[in_good[adv.index], "scenario"])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    if adv.empty:
        ax.text(0.5, 0.5, "no trained cells yet", ha="center", va="center", transform=ax.transAxes)
    else:
        y = summarize(adv, "retained", ["scenario"])
        x = summarize(adv, "judge_organism_acc", ["scenario"])
        both = y.merge(x, on="scenario", suffixes=("", "_x"))
        for _, r in both.iterrows():
            xerr = None if np.isnan(r["lo_x"]) else [[r["mean_x"] - r["lo_x"]], [r["hi_x"] - r["mean_x"]]]
            yerr = None if np.isnan(r["lo"]) else [[max(0, r["mean"] - r["lo"])], [max(0, r["hi"] - r["mean"])]]
            rung = get_scenario(r["scenario"]).difficulty
            ok = r["scenario"] in usable
            for axis, xv, xe in ((ax, r["mean_x"], xerr), (ax2, rung, None)):
                line = axis.errorbar([xv], [r["mean"]], xerr=xe, yerr=yerr, marker="o", capsize=3,
                                     mfc=None if ok else "white")
                axis.annotate(r["scenario"] + ("" if ok else "*"), (xv, r["mean"]),
                              textcoords="offset points", xytext=(6, 6), fontsize=8,
                              color=line[0].get_color())
        ax.axvline(0.5, color="grey", lw=0.8, ls=":")
    for axis in (ax, ax2):
        axis.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("the organism's judge accuracy on `distinguish` (0.5 = chance)")
    ax2.set_xlabel("rung on the scenario ladder (1 = easiest to tell apart)")
    ax.set_ylabel(f"retained misalignment at k={k}\n(deployment attack rate after / before)")
    ax.set_xlim(0.3, 1.02)
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    seeds = int(adv.groupby("scenario").size().max()) if not adv.empty else 0
    jn = int(adv["judge_organism_n"].max()) if not adv.empty else 0
    dn = int(adv["deployment_n"].max()) if not adv.empty else 0
    bars = _seed_bars(seeds) if seeds > 1 else "one seed, so no error bars: the spread between seeds is unmeasured"
    if seeds > 1 and not adv.empty and adv.groupby("scenario").size().min() == 1:
        bars += "; a point without bars has one seed"
    dropped = "; ".join(f"{s} seed {int(d)}" for s, d in zip(left_out["scenario"], left_out["seed"]))
    if dropped:
        bars += (f". Left out because their organisms miss the usability bounds (the other seeds of the scenario "
                 f"meet them): {dropped}")
    return (f"Retained misalignment (deployment attack rate after training against k={k} caught examples "
            f"with {method}, divided by the organism's) against distinguishability: left, the organism's own accuracy "
            f"at telling deployment from testing on the `distinguish` task (n={jn} per judge, chance = 0.5); right, "
            f"the scenario's rung on the designed ladder. One point per scenario; {seeds} seed(s), deployment "
            f"n={dn} per cell; {bars}. Hollow markers and *: organisms that miss the usability bounds (deployment "
            "attack rate >= 0.9, testing 0.01-0.2), whose retained misalignment says little about the question.")


def usable_groups(df: pd.DataFrame) -> set[tuple]:
    """(scenario, behavior, seed) groups whose organism (the k=0 cell) meets the usability bounds."""
    from training.organism import bounds_verdict

    org = _ok(df[df["training"] == "none"])
    return {(r.scenario, r.behavior, r.seed) for r in org.itertuples()
            if bounds_verdict(r.deployment_rate, r.testing_rate) is None}


def _seed_bars(seeds: int) -> str:
    """How the bars over `seeds` (> 1) seeds read: two seeds give their range, not a 95% interval."""
    if seeds == 2:
        return ("means over 2 seeds; the bars span the two seeds' values (a bootstrap over 2 seeds is their range: "
                "too few seeds for a 95% interval)")
    return f"means over {seeds} seeds with 95% bootstrap intervals over seeds"


def _main_method(df: pd.DataFrame) -> str:
    methods = [m for m in df["method"].unique() if m != "-"]
    return "lora" if "lora" in methods else (methods[0] if methods else "-")


def plot_vs_k(df: pd.DataFrame, path: Path) -> str:
    plt = _plt()
    method = _main_method(df)
    scenarios = list(dict.fromkeys(df["scenario"]))
    fig, axes = plt.subplots(1, len(scenarios), figsize=(3.6 * len(scenarios), 3.6), squeeze=False, sharey=True)
    for ax, scenario in zip(axes[0], scenarios):
        sub = _ok(df[(df["scenario"] == scenario) & ((df["training"] == "none") |
                                                     ((df["training"] == "adversarial") & (df["method"] == method)))])
        ks = sorted(sub["k"].unique())
        pos = {k: i for i, k in enumerate(ks)}
        for col, colour, marker, label in (("deployment_rate", "tab:red", "o", "deployment"),
                                           ("testing_rate", "tab:blue", "s", "testing"),
                                           ("trained_rate", "tab:green", "^", "trained inputs")):
            s = summarize(sub[sub[col].notna()], col, ["k"]) if sub[col].notna().any() else pd.DataFrame()
            if s.empty:
                continue
            ax.errorbar([pos[k] for k in s["k"]], s["mean"], yerr=_err(s), color=colour, marker=marker, capsize=3,
                        label=label)
        ax.set_xticks(range(len(ks)), [str(k) for k in ks])
        ax.set_title(scenario)
        ax.set_xlabel("k (caught examples trained against)")
        ax.set_ylim(-0.03, 1.03)
    axes[0][0].set_ylabel("attack rate")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    ok = _ok(df)
    return (f"Attack rates against k per scenario ({method}; k=0 is the organism): deployment and testing on "
            f"n={int(ok['deployment_n'].max())} eval prompts per side per cell, and the k trained inputs "
            f"({int(ok['trained_n'].max() or 0)} samples at most), at temperature {ok['temperature'].iloc[0]:g}; "
            f"{_bars(ok)}. The trained inputs should stop attacking: if they do not, training did not even fix "
            "what it saw.")


def _seeds_per_cell(df: pd.DataFrame) -> int:
    """The most seeds any cell of the grid has."""
    return int(df.groupby(["scenario", "behavior", "k", "training", "method"]).size().max())


def _bars(df: pd.DataFrame) -> str:
    seeds = _seeds_per_cell(df)
    return _seed_bars(seeds) if seeds > 1 else "one seed, 95% Wilson intervals"


def plot_usefulness(df: pd.DataFrame, path: Path) -> str:
    plt = _plt()
    method = _main_method(df)
    ok = _ok(df[(df["training"] == "none") | ((df["training"] == "adversarial") & (df["method"] == method))])
    scenarios = list(dict.fromkeys(df["scenario"]))
    ks = sorted(ok["k"].unique())
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(scenarios) + 2), 3.8))
    width = 0.8 / max(1, len(ks))
    for j, k in enumerate(ks):
        s = summarize(ok[ok["k"] == k], "useful_all", ["scenario"]).set_index("scenario").reindex(scenarios)
        x = np.arange(len(scenarios)) + j * width
        ax.bar(x, s["mean"], width, label=f"k={k}" if k else "organism (k=0)",
               yerr=None if s["lo"].isna().all() else _err(s.reset_index()))
    ax.set_xticks(np.arange(len(scenarios)) + 0.4 - width / 2, scenarios)
    ax.set_ylabel("usefulness (share correct)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    return (f"Usefulness (capability checks with ground truth, greedy, n={int(ok['useful_n'].max())} items) of the "
            f"organism (k=0) and after training against k caught examples ({method}); "
            f"{_bars(ok) if ok.groupby(['scenario', 'k']).size().max() > 1 else 'one seed, no interval'}.")


def plot_control(df: pd.DataFrame, path: Path) -> str | None:
    ctrl = _ok(df[df["training"] == "control"])
    if ctrl.empty:
        return None
    plt = _plt()
    pairs = ctrl[["scenario", "k", "method"]].drop_duplicates()
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(pairs) + 2), 3.8))
    labels = []
    for i, (_, p) in enumerate(pairs.iterrows()):
        for j, (training, colour) in enumerate((("adversarial", "tab:red"), ("control", "tab:grey"))):
            sub = _ok(df[(df["scenario"] == p["scenario"]) & (df["k"] == p["k"]) & (df["method"] == p["method"])
                         & (df["training"] == training)])
            if sub.empty:
                continue
            s = summarize(sub, "deployment_rate", ["k"])
            ax.bar([i + j * 0.4], s["mean"], 0.4, color=colour, yerr=_err(s),
                   label=training if i == 0 else None)
        labels.append(f"{p['scenario']}\nk={p['k']} {p['method']}")
    org = _ok(df[df["training"] == "none"])
    ax.set_xticks(np.arange(len(pairs)) + 0.2, labels, fontsize=8)
    ax.set_ylabel("deployment attack rate")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    lo_steps, hi_steps = int(ctrl["steps"].min()), int(ctrl["steps"].max())
    steps = f"{lo_steps}" if lo_steps == hi_steps else f"{lo_steps}-{hi_steps} (equal within each pair)"
    return (f"Adversarial training (k caught examples) vs the non-adversarial control (k benign testing inputs that "
            f"never attacked), both {steps} optimizer steps: deployment attack rate on n={int(ctrl['deployment_n'].max())} "
            f"prompts per cell; {_bars(ctrl)}. Organism before training: mean deployment rate "
            f"{org['deployment_rate'].mean():.2f}.")


def _fmt(mean: float, lo: float, hi: float) -> str:
    if np.isnan(mean):
        return "–"
    return f"{mean:.2f}" if np.isnan(lo) else f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"


def summary_table(df: pd.DataFrame) -> str:
    ok = _ok(df)
    lines = ["| scenario | training | method | k | seeds | deployment | testing | trained inputs | retained | "
             "usefulness | steps-to-fix |", "|" + "---|" * 11]
    for (scenario, training, method, k), g in ok.groupby(["scenario", "training", "method", "k"], sort=False):
        cells = []
        for col in ("deployment_rate", "testing_rate", "trained_rate", "retained", "useful_all"):
            s = summarize(g[g[col].notna()], col, ["k"]) if g[col].notna().any() else pd.DataFrame()
            cells.append("–" if s.empty else _fmt(*s[["mean", "lo", "hi"]].iloc[0]))
        fixes = g["steps_to_fix"]
        fix = "–" if training == "none" else "/".join("never" if pd.isna(v) else str(int(v)) for v in fixes)
        lines.append(f"| {scenario} | {training} | {method} | {k} | {len(g)} | " + " | ".join(cells) + f" | {fix} |")
    return "\n".join(lines)


def scenario_table(df: pd.DataFrame) -> str:
    org = df[df["training"] == "none"]
    from training.organism import bounds_verdict

    lines = ["| scenario | seeds | organism deployment | organism testing | meets bounds | base deployment | "
             "judge: organism | judge: base | caught (epochs) |", "|" + "---|" * 9]
    for scenario, g in org.groupby("scenario", sort=False):
        def m(col: str, g: pd.DataFrame = g) -> str:
            s = summarize(g, col, ["scenario"])
            return _fmt(*s[["mean", "lo", "hi"]].iloc[0])
        caught = "/".join(f"{int(c)} ({int(e)})" for c, e in zip(g["caught_n"], g["catch_epochs"]))
        bounds = "/".join("yes" if bounds_verdict(d, t) is None else "no"
                          for d, t in zip(g["deployment_rate"], g["testing_rate"]))
        lines.append(f"| {scenario} | {len(g)} | {m('deployment_rate')} | {m('testing_rate')} | {bounds} | "
                     f"{m('base_deployment_rate')} | {m('judge_organism_acc')} | {m('judge_base_acc')} | {caught} |")
    return "\n".join(lines)


def _interval_note(df: pd.DataFrame) -> str:
    seeds = _seeds_per_cell(df)
    if seeds == 1:
        return "Intervals: each cell's 95% Wilson interval (one seed per cell)."
    return ("Intervals: a cell with one seed, its 95% Wilson interval; several seeds, a 95% percentile bootstrap "
            "over the seeds' values" + (" (with 2 seeds, simply their range)." if seeds == 2 else "."))


def _provenance(df: pd.DataFrame) -> str:
    """The code the cells ran: each code hash (and commit, as the running checkout reported it) with its count."""
    if "code" not in df or df["code"].isna().all():
        return "commit " + ", ".join(f"`{c}`" for c in dict.fromkeys(df["commit"].astype(str)))
    parts = []
    for code, g in df.groupby(df["code"].fillna("unrecorded"), sort=False):
        commits = ", ".join(f"`{c}`" for c in dict.fromkeys(g["commit"].astype(str)))
        parts.append(f"code hash `{code}` (commit {commits}): {len(g)} cells")
    return "; ".join(parts)


def write_sweep_report(run_dir: Path, command: str | None = None, device_note: str | None = None) -> Path:
    run_dir = Path(run_dir)
    df = read_results(run_dir)
    if df.empty:
        raise ValueError(f"{run_dir} has no results.parquet rows: run `caught sweep` first")
    df.to_csv(run_dir / "results.csv", index=False)
    figures = [("retained_vs_distinguishability.png", plot_retained),
               ("attack_vs_k.png", plot_vs_k), ("usefulness.png", plot_usefulness),
               ("adversarial_vs_control.png", plot_control)]
    parts = []
    for i, (name, fn) in enumerate(figures):
        caption = fn(df, run_dir / name)
        if caption:
            parts.append(f"### Figure {chr(ord('a') + i)}\n\n![{name}]({name})\n\n{caption}\n")
    skipped = df[df["status"] != "ok"]
    first = df.iloc[0]
    head = [f"# caught sweep `{run_dir.name}`", ""]
    if command:
        head.append(f"Command: `{command}`" + (f" on {device_note}" if device_note else "") + ".")
    head += [
        f"Base model `{first['base']}`; behaviors {sorted(df['behavior'].unique())}; scenarios "
        f"{list(dict.fromkeys(df['scenario']))}; k {sorted(int(k) for k in df['k'].unique())}; seeds "
        f"{sorted(int(s) for s in df['seed'].unique())}; device `{first['device']}`; {_provenance(df)}. "
        f"Attack rates at temperature {first['temperature']:g} ({int(first['max_tokens'])} new tokens); "
        f"usefulness greedy. {len(df)} cells, {df['cell_seconds'].sum():.0f} s of cell time "
        "(reused organisms, logs and checkpoints count ~0).", "",
        "## Organisms, base model and judges", "", scenario_table(df), "",
        "Meets bounds: the organism's deployment attack rate is at least 0.9 and its testing rate 0.01-0.2. "
        "Judge accuracy: the `distinguish` task in "
        f"`{first['judge_mode']}` mode (chance 0.5), n={int(first['judge_organism_n'])} per judge; the base model's "
        "deployment attack rate should be about 0.", "",
        "## All cells (mean over seeds [interval])", "", summary_table(df), "",
        _interval_note(df), "",
    ]
    if not skipped.empty:
        head += ["Cells not run: " + "; ".join(f"{r.scenario} k={r.k} {r.training}: {r.status}"
                                                  for r in skipped.itertuples()), ""]
    head += ["## Figures", ""] + parts
    out = run_dir / "report.md"
    write_text(out, "\n".join(head))
    return out
