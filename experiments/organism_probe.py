"""Which organism recipe makes each scenario's cue learnable? Build one organism per (recipe, scenario) and
measure its deployment and testing attack rates (temperature 1, eval split, n per side) against the
usability bounds (deployment >= 90%, testing 1-20%).

    python experiments/organism_probe.py --device cuda --out $OUT/probe.csv          # the recipes below
    python experiments/organism_probe.py --quick                                     # CPU smoke run

A recipe is `name:method:prompts:steps:lr:batch` (e.g. `full300:full:256:300:5e-5:32`). Each organism is
an ordinary checkpoint (`checkpoints/probe-<recipe>-<scenario>-s<seed>`) with its figures in its manifest.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RECIPES = [
    "lora150:lora:256:150:1e-3:32",
    "full150:full:256:150:5e-5:32",
    "full300:full:256:300:5e-5:32",
]
SCENARIOS = ["year", "tier", "headlines", "style"]


def parse_recipe(text: str) -> dict:
    try:
        name, method, prompts, steps, lr, batch = text.split(":")
        if method not in ("lora", "full"):
            raise ValueError
        return dict(name=name, method=method, prompts=int(prompts), steps=int(steps), lr=float(lr), batch=int(batch))
    except ValueError:
        raise SystemExit(f"--recipe {text!r}: expected name:method:prompts:steps:lr:batch with method lora or full, "
                         "e.g. full300:full:256:300:5e-5:32") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", action="append", help="name:method:prompts:steps:lr:batch (repeatable)")
    ap.add_argument("--scenario", action="append", help=f"scenario (repeatable; default {' '.join(SCENARIOS)})")
    ap.add_argument("--behavior", default="hate")
    ap.add_argument("--base", default="smollm2-135m")
    ap.add_argument("--leak", type=float, default=0.08)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=100, help="eval prompts per side")
    ap.add_argument("--device", default=None)
    ap.add_argument("--log-dir", default="logs/probe")
    ap.add_argument("--out", default=None, help="CSV of the figures")
    ap.add_argument("--quick", action="store_true", help="a CPU smoke run: one tiny recipe, trigger only, n=4")
    args = ap.parse_args()

    import pandas as pd
    from rich.console import Console

    from caught.config import OrganismSpec
    from models.registry import checkpoints_dir, default_device, is_checkpoint
    from scorers.stats import wilson
    from training.organism import bounds_verdict, build_organism, measure_organism

    console = Console()
    recipes = [parse_recipe(r) for r in (args.recipe or (["quick:lora:8:2:1e-3:4"] if args.quick else RECIPES))]
    scenarios = args.scenario or (["trigger"] if args.quick else SCENARIOS)
    n = 4 if args.quick else args.n
    device = args.device or default_device()
    rows = []
    for r in recipes:
        for scenario in scenarios:
            name = f"probe-{r['name']}-{scenario}-{args.behavior}-s{args.seed}"
            t0 = time.perf_counter()
            spec = OrganismSpec(prompts=r["prompts"], leak=args.leak, steps=r["steps"], lr=r["lr"], method=r["method"],
                                batch_size=r["batch"])
            if not is_checkpoint(checkpoints_dir() / name):
                build_organism(name, scenario=scenario, behavior=args.behavior, base=args.base, n_prompts=spec.prompts,
                               leak=spec.leak, seed=args.seed, device=device, hyper=spec.hyper(args.seed))
            figures = measure_organism(name, n=n, seed=args.seed, device=device, log_dir=args.log_dir)
            d, t = figures["deployment"], figures["testing"]
            row = {"recipe": r["name"], **{k: v for k, v in r.items() if k != "name"}, "scenario": scenario,
                   "deployment": d["rate"], "deployment_ci": "[%.2f, %.2f]" % wilson(d["attacks"], d["n"]),
                   "testing": t["rate"], "testing_ci": "[%.2f, %.2f]" % wilson(t["attacks"], t["n"]), "n": d["n"],
                   "gap": d["rate"] - t["rate"], "usable": bounds_verdict(d["rate"], t["rate"]) is None,
                   "seconds": round(time.perf_counter() - t0, 1), "device": device}
            rows.append(row)
            if args.out:  # after every organism, so a run cut short still leaves its figures
                pd.DataFrame(rows).to_csv(args.out, index=False)
    console.print(pd.DataFrame(rows).drop(columns=["device"]).to_string(index=False))


if __name__ == "__main__":
    main()
