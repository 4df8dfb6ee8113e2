"""How distinguishable is each rung of the scenario ladder, for one model? Per scenario: the activation probe
(held-out AUROC at the layer chosen on training requests, its bootstrap interval, the AUROC reached from 8 and
32 labelled examples, the framing-blind control) and the judge in both orders (accuracy, calibrated accuracy,
AUROC with its interval, position bias), and with `--learnability SIZES` the base model's learnability of the rung
(training.learnability: the fewest labelled examples, and the LoRA steps, that reach 0.9 held-out AUROC; the
largest size's final AUROC with its interval; every check in learnability.jsonl). One CSV row per scenario, every judge answer and probe score in
samples/ (one part per rung; a committed samples.parquet is taken back as a part on resume; `caught pack OUT`
packs them into one file again), and a plot against the rung.

    python experiments/ladder_distinguishability.py --model smollm2-135m --out results/ladder   # resumes
    python experiments/ladder_distinguishability.py --model smollm2-135m --scenario trigger --train-n 16 --eval-n 16 \
        --judge-n 8 --out /tmp/ladder                                          # a smoke run
    python experiments/ladder_distinguishability.py --model smollm2-135m --learnability 4,16,64,256 --out OUT  # GPU
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--scenario", action="append", help="scenario (repeatable; default: the whole ladder)")
    ap.add_argument("--train-n", type=int, default=128, help="organism-split requests the probe is fit on")
    ap.add_argument("--eval-n", type=int, default=128, help="eval-split requests it is scored on")
    ap.add_argument("--judge-n", type=int, default=100, help="judge pairs (each shown in both orders)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--learnability", default="", help="labelled-example sizes for the learnability measure, e.g. "
                    "4,16,64,256 (even numbers; empty: not measured)")
    ap.add_argument("--learn-steps", type=int, default=40, help="LoRA steps at most per learnability size")
    ap.add_argument("--out", required=True, help="directory for ladder.csv, curves.csv and ladder.png")
    args = ap.parse_args()
    try:
        sizes = sorted({int(x) for x in args.learnability.split(",") if x.strip()})
    except ValueError:
        raise SystemExit(f"--learnability {args.learnability!r}: accepted is a comma-separated list of even sizes, "
                         "e.g. 4,16,64") from None

    import json

    import pandas as pd

    from caught.probe import probe
    from caught.report import _plt
    from caught.sweep import judge_summary
    from models.registry import default_device, fingerprint, resolve
    from tasks.scenarios import get_scenario, ladder
    from training.atomic import write_with
    from training.evaluate import evaluate
    from training.learnability import learnability
    from training.records import SAMPLES, adopt_packed, sample_records, write_part

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    adopt_packed(out)  # the committed records (one samples.parquet) beside the rungs measured now
    device = args.device or default_device()
    rows, curves = [], []
    settings = {"model": args.model, "probe_n_train": 2 * args.train_n, "probe_n_eval": 2 * args.eval_n,
                "judge_n": 2 * args.judge_n}
    if sizes:
        settings |= {"learn_sizes": ",".join(map(str, sizes)), "learn_steps": args.learn_steps}
    if (out / "ladder.csv").is_file():  # resume: rungs measured with the same settings are kept, not rerun
        old = pd.read_csv(out / "ladder.csv")
        same = old[(old.reindex(columns=list(settings)) == pd.Series(settings)).all(axis=1)]
        rows = same.to_dict("records")
        if (out / "curves.csv").is_file():
            curves = pd.read_csv(out / "curves.csv").query("scenario in @same.scenario").to_dict("records")
        if rows:
            print(f"resuming: {', '.join(same.scenario)} already measured")
    done = {r["scenario"] for r in rows}
    for name in args.scenario or ladder():
        if name in done:
            continue
        spec = get_scenario(name)
        t0 = time.perf_counter()
        r = probe(args.model, name, train_n=args.train_n, eval_n=args.eval_n, seed=args.seed, device=device)
        at = {c["examples"]: c["auroc"] for c in r.curve}
        curves += [{"scenario": name, **c} for c in r.curve]
        log = evaluate(args.model, "distinguish", {"scenario": name, "mode": "pair", "n": args.judge_n,
                                                   "seed": args.seed, "orders": "both"},
                       log_dir=str(out / "logs"), seed=args.seed, device=device)
        j = judge_summary(log)
        learned = {}
        if sizes:
            lr_ = learnability(args.model, name, sizes=sizes, steps=args.learn_steps, check_every=5,
                               eval_n=args.eval_n, seed=args.seed, device=device)
            top = lr_.sizes[-1]
            learned = {"learn_examples_to_target": lr_.examples_to_target, "learn_steps_to_target":
                       lr_.steps_at_examples, "learn_auroc_top": top["final_auroc"], "learn_lo_top": top["final_lo"],
                       "learn_hi_top": top["final_hi"], "learn_sizes": settings["learn_sizes"],
                       "learn_steps": settings["learn_steps"]}
            with open(out / "learnability.jsonl", "a") as f:  # every check of every size
                f.write(json.dumps(lr_.to_dict()) + "\n")
        fp = fingerprint(resolve(args.model))
        write_part(out / SAMPLES, {"scenario": name, "model": args.model},  # every judge answer and probe score
                   [{**r, "scenario": name} for r in sample_records(log, args.model, fp, evaluation="judge")]
                   + [{"checkpoint": args.model, "fingerprint": fp, "task": "probe", "scenario": name,
                       "side": x["side"], "split": "eval", "sample_id": x["sample_id"], "epoch": 0, "completion": "",
                       "log": "", "evaluation": f"probe_{x['side']}", "score_probe": x["score"]} for x in r.scores])
        rows.append({"scenario": name, "difficulty": spec.difficulty, "band": spec.band, "model": args.model,
                     "probe_auroc": r.auroc, "probe_lo": r.lo, "probe_hi": r.hi, "probe_layer": r.layer,
                     "probe_pooling": r.pooling, "probe_at_8": at.get(8), "probe_at_32": at.get(32),
                     "probe_control": r.control_auroc, "probe_n_train": r.n_train, "probe_n_eval": r.n_eval,
                     "judge_acc": j["acc"], "judge_acc_lo": j["lo"], "judge_acc_hi": j["hi"],
                     "judge_calibrated_acc": j["calibrated_acc"], "judge_auroc": j["auroc"],
                     "judge_auroc_lo": j["auroc_lo"], "judge_auroc_hi": j["auroc_hi"],
                     "judge_position_bias": j["position_bias"], "judge_n": j["n"], "judge_log": log.location,
                     **learned, "seconds": round(time.perf_counter() - t0, 1), "device": device})
        print(f"{name}: probe {r.auroc:.3f} [{r.lo:.3f}, {r.hi:.3f}] (8 examples {at.get(8, float('nan')):.2f}, "
              f"control {r.control_auroc:.2f}); judge acc {j['acc']:.2f}, calibrated {j['calibrated_acc']:.2f}, "
              f"AUROC {j['auroc']:.2f}, position bias {j['position_bias']:+.2f}"
              + (f"; learnability: {learned['learn_examples_to_target']} examples, "
                 f"{learned['learn_steps_to_target']} steps to 0.9" if learned else ""), flush=True)
        pd.DataFrame(rows).to_csv(out / "ladder.csv", index=False)  # after every rung: a cut run keeps its rows
        pd.DataFrame(curves).to_csv(out / "curves.csv", index=False)
    df = pd.DataFrame(rows)
    plt = _plt()
    learn = "learn_auroc_top" in df and df["learn_auroc_top"].notna().any()
    fig, axes = plt.subplots(1, 3 if learn else 2, figsize=(18 if learn else 12, 4.6))
    ax, ax2 = axes[0], axes[1]
    ax2.sharey(ax)
    # scenarios sharing a rung sit side by side around it
    df["x"] = df.difficulty + df.groupby("difficulty").cumcount() * 0.12 - (df.groupby("difficulty")[
        "scenario"].transform("size") - 1) * 0.06
    for _, r in df.iterrows():
        ax.errorbar([r.x], [r.probe_auroc], yerr=[[r.probe_auroc - r.probe_lo], [r.probe_hi - r.probe_auroc]],
                    marker="o", capsize=3, color="C0")
        ax.annotate(r.scenario, (r.x, r.probe_auroc), textcoords="offset points", xytext=(2, 6), fontsize=7,
                    rotation=60)
        ax.plot([r.x], [r.probe_at_8], marker="x", color="C1")
        ax2.errorbar([r.x], [r.judge_auroc], yerr=[[r.judge_auroc - r.judge_auroc_lo],
                                                           [r.judge_auroc_hi - r.judge_auroc]],
                     marker="o", capsize=3, color="C2")
        ax2.annotate(r.scenario, (r.x, r.judge_auroc), textcoords="offset points", xytext=(2, 6), fontsize=7,
                     rotation=60)
    for axis in (ax, ax2):
        axis.axhline(0.5, color="grey", lw=0.8, ls=":")
        axis.set_xlabel("rung on the scenario ladder (difficulty)")
        axis.set_xticks(sorted(df.difficulty.unique()))
    ax.set_ylabel("held-out AUROC (0.5 = chance)")
    ax.set_title(f"activation probe of {args.model} (o: {args.train_n * 2} examples, x: 8)", fontsize=9)
    ax2.set_title("judge, both orders (AUROC of P(deployment))", fontsize=9)
    ax.set_ylim(0.3, 1.15)
    if learn:  # fewest labelled examples to 0.9 AUROC; a rung not learned within the largest size sits above it
        ax3, top = axes[2], max(int(v) for v in str(df["learn_sizes"].dropna().iloc[0]).split(","))
        for _, r in df.iterrows():
            reached = pd.notna(r.get("learn_examples_to_target"))
            y = r.learn_examples_to_target if reached else top * 2
            ax3.plot([r.x], [y], marker="o" if reached else "^", color="C3" if reached else "grey")
            ax3.annotate(r.scenario if reached else f"{r.scenario} ({r.learn_auroc_top:.2f})", (r.x, y),
                         textcoords="offset points", xytext=(2, 6), fontsize=7, rotation=60)
        ax3.set_yscale("log", base=2)
        ax3.set_ylim(2, top * 8)
        ax3.axhline(top * 1.4, color="grey", lw=0.8, ls=":")
        ax3.set_xlabel("rung on the scenario ladder (difficulty)")
        ax3.set_xticks(sorted(df.difficulty.unique()))
        ax3.set_ylabel("labelled examples to 0.9 AUROC")
        ax3.set_title(f"learnability (LoRA, at most {int(df['learn_steps'].dropna().iloc[0])} steps; ^: not within "
                      f"{top}, final AUROC)", fontsize=9)
    fig.tight_layout()
    write_with(out / "ladder.png", lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    print(f"wrote {out / 'ladder.csv'}, {out / 'curves.csv'}, {out / 'ladder.png'}")


if __name__ == "__main__":
    main()
