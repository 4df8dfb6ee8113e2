"""`caught elicit-report runs/<name>`: the elicitation run's report, summary table and plot, from its results table.

The organism: the base model, the capable stage and the locked organism on held-out items of every domain, without
and with the password (one run each: Wilson intervals), and whether the locked organism reaches its bound with the
password (a miss is said first, in capitals). The methods: accuracy without the password after each method and k, per
domain (the elicited one, then the others: generalization between domains), as the mean over seeds with a 95% t
interval across seeds, never narrower than the pooled Wilson interval and cut to [0, 1] (caught.report.summarize;
one seed: its Wilson interval), beside the locked organism's accuracy (before) and with the password (after: did the
method keep the unlocked capability). The plot: accuracy without the password against k for the ground-truth
comparison, with the methods that use none as lines across it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from caught.config import read_stored
from caught.elicit import organism_misses, read_results
from caught.report import _fmt as fmt_interval
from caught.report import summarize
from caught.tables import markdown
from training.atomic import write_text, write_with

ORDER = {"base": 0, "capable": 1, "locked": 2, "intent": 3, "rl": 4, "groundtruth": 5}


def summary(df: pd.DataFrame, domains: list[str]) -> pd.DataFrame:
    """One row per (method, k): for every domain and state, mean, lo, hi, seeds and the pooled n."""
    rows: dict[tuple, dict] = {}
    for d in domains:
        for state in ("locked", "unlocked"):
            col = f"{d}_{state}_rate"
            if col not in df:
                continue
            for r in summarize(df, col, ["method", "k"]).to_dict("records"):
                row = rows.setdefault((r["method"], int(r["k"])), {"method": r["method"], "k": int(r["k"])})
                row.update({f"{d}_{state}": r["mean"], f"{d}_{state}_lo": r["lo"], f"{d}_{state}_hi": r["hi"],
                            f"{d}_{state}_n": r["n"], "seeds": r["seeds"]})
    out = pd.DataFrame(list(rows.values()))
    if out.empty:
        return out
    return out.sort_values(["method", "k"], key=lambda s: s.map(ORDER) if s.name == "method" else s).reset_index(
        drop=True)


def table(s: pd.DataFrame, domains: list[str], elicited: str) -> str:
    header = ["method", "k", "seeds"] + [f"{d} no password{' (elicited)' if d == elicited else ''}" for d in domains] \
        + [f"{d} with password" for d in domains]
    rows = []
    for r in s.to_dict("records"):
        cells = [r["method"], str(r["k"]) if r["method"] not in ("base", "capable", "locked") else "-",
                 str(int(r["seeds"]))]
        for state in ("locked", "unlocked"):
            for d in domains:
                n = r.get(f"{d}_{state}_n")
                cells.append(f"{fmt_interval(r[f'{d}_{state}'], r[f'{d}_{state}_lo'], r[f'{d}_{state}_hi'])}"
                             f"{f' n={int(n)}' if n == n and n is not None else ''}")
        rows.append(cells)
    return markdown(header, rows)


def plot(s: pd.DataFrame, path: Path, domains: list[str], elicited: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(domains), figsize=(5 * len(domains), 4), squeeze=False)
    for ax, d in zip(axes[0], domains):
        gt = s[s.method == "groundtruth"].sort_values("k")
        if not gt.empty:
            ax.errorbar(gt.k, gt[f"{d}_locked"], yerr=[gt[f"{d}_locked"] - gt[f"{d}_locked_lo"].fillna(gt[f"{d}_locked"]),
                                                       gt[f"{d}_locked_hi"].fillna(gt[f"{d}_locked"]) - gt[f"{d}_locked"]],
                        marker="o", capsize=3, label="ground truth (k examples)")
        for method, style in (("locked", ":"), ("intent", "--"), ("rl", "-."), ("capable", "-")):
            m = s[s.method == method]
            if not m.empty:
                ax.axhline(float(m[f"{d}_locked"].iloc[0]), linestyle=style, color="grey" if method in ("locked", "capable")
                           else None, label={"locked": "locked (before)", "capable": "capable stage",
                                             "intent": "stated intent", "rl": "RL with a grader"}[method])
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("ground-truth examples k")
        ax.set_ylabel("accuracy without the password")
        ax.set_title(f"{d}{' (elicited)' if d == elicited else ' (other domain)'}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)
    return path


def report(run_dir: Path, out_dir: Path | None = None, notes: str = "") -> Path:
    run_dir = Path(run_dir)
    df = read_results(run_dir)
    if df.empty:
        raise ValueError(f"no results in {run_dir} (run `caught elicit` first)")
    config = read_stored(run_dir).get("config")
    if not config:
        raise ValueError(f"{run_dir / 'config.json'} is missing: `caught elicit` writes it with the run's settings")
    domains, bound = config["domains"], config["bound"]
    elicited = config.get("elicit_domain") or domains[0]
    out = Path(out_dir or run_dir)
    s = summary(df, domains)
    write_with(out / "summary.csv", lambda tmp: s.to_csv(tmp, index=False))
    lines = [f"# Eliciting a locked capability: {config['name']}", ""]
    locked = df[(df.seed == -1) & (df.method == "locked")]
    if not locked.empty:
        misses = organism_misses(locked.iloc[-1].to_dict(), domains, bound)
        lines += [f"**MISS: the locked organism misses its bound** ({bound:.2f} with the password): {'; '.join(misses)}."
                  " Its elicitation figures do not measure the elicitation of a capability it has."
                  if misses else f"The locked organism reaches its bound ({bound:.2f} with the password) on every "
                  "domain.", ""]
    lines += [f"Base `{config['base']}`, locked domains {', '.join(domains)} (lock: {config['lock']}), methods trained "
              f"on `{elicited}` prompts without the password; greedy decoding; accuracy = exact answers on held-out "
              "eval items. Cells: mean over seeds [95% t interval across seeds, never narrower than the pooled "
              "Wilson interval]; one seed or the organism's rows: [Wilson]. n = answers pooled over seeds.", "",
              table(s, domains, elicited)]
    if "gt_records" in df:
        el = df[df.seed >= 0]
        lines += ["", "Training records carrying their item's ground truth, per method (data under data/): " +
                  ", ".join(f"{m} {int(g.gt_records.sum())} of {int(g.n_records.sum())}"
                            for m, g in el.groupby("method"))]
    if "rewards" in df and df["rewards"].notna().any():
        rl = df[df.method == "rl"].dropna(subset=["rewards"])
        lines += ["", "RL mean reward per step (first -> last): " + "; ".join(
            f"seed {int(r.seed)}: {json.loads(r.rewards)[0]:.2f} -> {json.loads(r.rewards)[-1]:.2f}"
            for r in rl.itertuples() if json.loads(r.rewards))]
    if not s.empty:
        plot(s, out / "elicitation.png", domains, elicited)
        lines += ["", "![accuracy without the password](elicitation.png)"]
    if notes:
        lines += ["", notes.strip()]
    path = write_text(out / "report.md", "\n".join(lines) + "\n")
    return path

