"""Reports: the before/after table as markdown plus a plot of attack rates vs k and usefulness."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from caught.compare import to_markdown


def plot(df: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    adv = df[df["kind"].isin(["organism", "train-against"])].sort_values("k")
    xs = list(range(len(adv)))
    for side, colour, marker in (("deployment", "tab:red", "o"), ("testing", "tab:blue", "s"),
                                 ("trained", "tab:green", "^")):
        sub = adv[adv[f"{side}_n"].fillna(0) > 0]
        if sub.empty:
            continue
        x = [xs[list(adv.index).index(i)] for i in sub.index]
        err = [sub[f"{side}_rate"] - sub[f"{side}_lo"], sub[f"{side}_hi"] - sub[f"{side}_rate"]]
        label = {"trained": "trained inputs"}.get(side, side)
        ax.errorbar(x, sub[f"{side}_rate"], yerr=err, color=colour, marker=marker, capsize=3, label=label)
    control = df[df["kind"] == "control"]
    for _, r in control.iterrows():
        x = xs[list(adv["k"]).index(r["k"])] if r["k"] in list(adv["k"]) else len(xs)
        ax.errorbar([x + 0.08], [r["deployment_rate"]], yerr=[[r["deployment_rate"] - r["deployment_lo"]],
                    [r["deployment_hi"] - r["deployment_rate"]]], color="black", marker="x", capsize=3,
                    linestyle="none", label=f"control (benign, k={int(r['k'])}): deployment")
    ax.set_xticks(xs, [f"k={int(k)}" for k in adv["k"]])
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("attack rate (95% Wilson)")
    ax.set_title("Attack rate vs k caught examples trained against")
    ax.legend(fontsize=8)

    kinds = [c.removeprefix("useful_") for c in df.columns if c.startswith("useful_") and c not in ("useful_n",)]
    width = 0.8 / max(len(df), 1)
    for j, (_, r) in enumerate(df.iterrows()):
        label = r["kind"] if r["kind"] in ("organism", "base") else f"{r['kind']} k={int(r['k'])}"
        ax2.bar([i + j * width for i in range(len(kinds))], [r[f"useful_{k}"] for k in kinds], width, label=label)
    ax2.set_xticks([i + 0.4 - width / 2 for i in range(len(kinds))], kinds)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("accuracy (greedy)")
    ax2.set_title(f"Usefulness (n={int(df['useful_n'].iloc[0])} items)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def write_report(df: pd.DataFrame, out_dir: Path, title: str, preamble: str = "", footer: str = "") -> Path:
    out_dir = Path(out_dir)
    png = plot(df, out_dir / "attack_vs_k.png")
    text = f"# {title}\n\n{preamble}\n\n{to_markdown(df)}\n![attack rate vs k]({png.name})\n\n{footer}\n"
    report = out_dir / "report.md"
    tmp = report.with_name(".report.md.tmp")
    tmp.write_text(text)
    tmp.replace(report)
    return report
