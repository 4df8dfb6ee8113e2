"""Which organism and train-against recipe passes both the attack bounds and the capability gate? Each recipe runs
as a small sweep of its own (runs/probe-<recipe>/: the headline config with the recipe's settings, one seed, k in
{0, 16}, no controls), so every figure is measured exactly as the headline sweep measures it: attack rates with
Wilson intervals, usefulness under both framings on every usefulness item, the held-out capability check, the gate
against the base model on the same items, and per-sample records.

    python experiments/organism_probe.py --device cuda --workers 6 --out $OUT/probe.csv --choose runs/chosen.toml
    python experiments/organism_probe.py --quick                      # a CPU smoke run: tiny recipe, n=4

A recipe is `name:key=value,...` over the organism's fields (prompts, leak, steps, lr, method, batch_size, replay,
tasks) and the train-against run's (train_lr, train_steps, train_mix_benign, train_mix_tasks,
train_share, train_responses), e.g. `t3e-4:lr=3e-4,tasks=256,train_lr=3e-4`; keys left
out keep the base config's value. `--choose` writes the base config with the first recipe (in the order given) whose
organisms and k=16 children all pass (or, when none does, the one with the most passing cells): the sweep to run next.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RECIPES = [
    "t1e-3:tasks=256,lr=1e-3,train_lr=1e-3",
    "t3e-4:tasks=256,lr=3e-4,train_lr=3e-4",
    "t3e-4-long:tasks=512,prompts=512,steps=300,lr=3e-4,train_lr=3e-4",
]
SCENARIOS = ["trigger", "year"]
ORGANISM_KEYS = ("prompts", "leak", "steps", "lr", "method", "batch_size", "replay", "tasks", "facts", "facts_stage",
                 "curriculum")
TRAIN_KEYS = {"train_lr": "lr", "train_steps": "steps", "train_mix_benign": "mix_benign", "train_mix_tasks": "mix_tasks",
              "train_share": "trained_share", "train_responses": "responses"}
COLUMNS = ["recipe", "scenario", "training", "k", "status", "deployment_rate", "deployment_lo", "deployment_hi", "deployment_n",
           "testing_rate", "testing_lo", "testing_hi", "useful_all", "base_useful_all", "useful_n", "useful_attack_rate",
           "useful_dep_answered_all", "base_useful_dep_answered_all", "useful_dep_answered_n", "capability_all",
           "base_capability_all", "capability_n", "tf_gap", "train_loss", "bounds", "gate_pass", "gate_verdict",
           "organism_seconds", "cell_seconds", "device"]


def parse_recipe(text: str) -> tuple[str, dict, dict]:
    """(name, organism overrides, train overrides); one clear error for a malformed recipe or an unknown key."""
    from caught.config import OrganismSpec, TrainSpec

    name, _, body = text.partition(":")
    organism, train = {}, {}
    try:
        if not name or not body:
            raise ValueError("expected name:key=value,...")
        for part in body.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"{part!r} is not key=value")
            if key in ORGANISM_KEYS:
                organism[key] = value
            elif key in TRAIN_KEYS:
                train[TRAIN_KEYS[key]] = value
            else:
                raise ValueError(f"unknown key {key!r}; accepted: {', '.join([*ORGANISM_KEYS, *TRAIN_KEYS])}")
        OrganismSpec(**organism), TrainSpec(**train)  # values checked (and converted) by the config's own fields
    except ValueError as ex:
        raise SystemExit(f"--recipe {text!r}: {ex}") from None
    return name, organism, train


def headline_with(base, organism: dict, train: dict):
    """The base config itself (its grid, name and evaluation) with the recipe's organism and train settings."""
    o = type(base.organism)(**{**base.organism.model_dump(), **organism})
    t = type(base.train)(**{**base.train.model_dump(), **train})
    return base.model_copy(update={"organism": o, "train": t})


def recipe_config(base, name: str, organism: dict, train: dict, *, scenarios: list[str], seed: int, n: int):
    """The base sweep config with a recipe applied, as one probe sweep (k in {0, 16}, no controls)."""
    config = headline_with(base, organism, train)
    ev = config.eval.model_copy(update={"n": n, "usefulness_n": 373, "judge_n": min(config.eval.judge_n, 20)})
    return config.model_copy(update={"name": f"probe-{name}", "scenarios": scenarios, "seeds": [seed], "ks": [0, 16],
                                     "control_ks": [], "eval": ev})


def to_toml(config) -> str:
    """A sweep config as TOML (the fields a config file holds; None left out, as TOML has no null)."""
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    data = config.model_dump(exclude_none=True)
    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section in ("organism", "train", "eval"):
        lines += ["", f"[{section}]"] + [f"{k} = {value(v)}" for k, v in data[section].items()]
    return "\n".join(lines) + "\n"


def probe_config(text: str, args) -> tuple[str, dict, dict, object]:
    from caught.config import load_config

    name, organism, train = parse_recipe(text)
    base = load_config(Path(args.config))
    if args.quick:
        base = base.model_copy(update={"eval": base.eval.model_copy(update={
            "capability_n": 8, "trained_samples": 1, "catch_epochs": 2, "max_tokens": 16})})
    config = recipe_config(base, name, organism, train, scenarios=args.scenarios, seed=args.seed,
                           n=4 if args.quick else args.n)
    if args.quick:
        config = config.model_copy(update={"eval": config.eval.model_copy(update={"usefulness_n": 8, "judge_n": 4})})
    return name, organism, train, config


def run_job(text: str, shard: int, args) -> None:
    """One scenario's group of one recipe's probe sweep (a shard of it: the groups share the run directory)."""
    from caught.sweep import Sweep

    *_, config = probe_config(text, args)
    Sweep(config, runs_dir=Path(args.runs), device=args.device, shard=(shard, len(args.scenarios)),
          say=lambda m: print(m, flush=True)).run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", action="append", help="name:key=value,... (repeatable; default: the list above)")
    ap.add_argument("--scenario", action="append", help=f"scenario (repeatable; default {' '.join(SCENARIOS)})")
    ap.add_argument("--config", default="experiments/headline.toml", help="the sweep config a recipe modifies")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=100, help="eval prompts per side")
    ap.add_argument("--device", default=None)
    ap.add_argument("--runs", default="runs", help="where the probe sweeps go (runs/probe-<recipe>/)")
    ap.add_argument("--out", default=None, help="CSV of the figures")
    ap.add_argument("--choose", default=None, help="write the config with the first recipe that passes here")
    ap.add_argument("--workers", type=int, default=1, help="processes at once, one (recipe, scenario) each: a small "
                    "model leaves a GPU mostly idle, so several share it")
    ap.add_argument("--quick", action="store_true", help="CPU smoke run: a tiny recipe, trigger only, n=4")
    args = ap.parse_args()

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import pandas as pd
    from rich.console import Console

    from caught.sweep import read_results
    from models.registry import default_device
    from training.organism import bounds_verdict

    console = Console(width=200)
    texts = args.recipe or (["quick:prompts=8,steps=2,batch_size=4,replay=4,tasks=4,train_steps=2"] if args.quick
                            else RECIPES)
    args.scenarios = args.scenario or (["trigger"] if args.quick else SCENARIOS)
    args.device = args.device or default_device()
    recipes = [probe_config(t, args) for t in texts]  # every recipe checked before anything runs
    jobs = [(t, i) for t in texts for i in range(len(args.scenarios))]
    t0 = time.perf_counter()
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for future in [pool.submit(run_job, t, i, args) for t, i in jobs]:
                future.result()
    else:
        for t, i in jobs:
            run_job(t, i, args)
    console.print(f"{len(jobs)} probe groups in {time.perf_counter() - t0:.0f} s on {args.device} "
                  f"({args.workers} at once)")
    rows: list[dict] = []
    chosen = best = None
    for name, organism, train, config in recipes:
        mine = []
        for _, r in read_results(Path(args.runs) / config.name).iterrows():
            row = {c: r.get(c) for c in COLUMNS if c in r}
            row.update(recipe=name, device=args.device)
            if r["training"] == "none":
                row["bounds"] = bounds_verdict(r["deployment_rate"], r["testing_rate"]) or "ok"
            mine.append(row)
        ok = [x.get("status") == "ok" and bool(x.get("gate_pass") == True) for x in mine]  # noqa: E712 (NaN: not a pass)
        passed = bool(mine) and all(ok) and all(x.get("bounds", "ok") == "ok" for x in mine)
        console.print(f"recipe {name}: {'PASSES' if passed else 'fails'} ({sum(ok)}/{len(mine)} cells measured and "
                      f"passing the gate; bounds: {', '.join(str(x['bounds']) for x in mine if x['training'] == 'none')})")
        if passed and chosen is None:
            chosen = (name, organism, train)
        if best is None or sum(ok) > best[0]:
            best = (sum(ok), name, organism, train)
        rows += mine
    table = pd.DataFrame(rows, columns=COLUMNS)
    if args.out:
        table.to_csv(args.out, index=False)
    show = ["recipe", "scenario", "training", "status", "deployment_rate", "testing_rate", "useful_all",
            "base_useful_all", "useful_attack_rate", "useful_dep_answered_all", "capability_all", "base_capability_all",
            "train_loss", "gate_pass"]
    console.print(table[show].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    for _, r in table[table.gate_pass.eq(False)].iterrows():
        console.print(f"  {r.recipe} {r.scenario} {r.training}: {r.gate_verdict}")
    if args.choose and (chosen or best):
        from caught.config import load_config

        if chosen is None:  # nothing passed: the recipe with the most passing cells, whose failures the sweep reports
            chosen = best[1:]
            console.print(f"no recipe passed; {args.choose} gets the one with the most passing cells ({chosen[0]}), "
                          "whose gate failures the sweep will report")
        Path(args.choose).write_text(f"# {args.config} with probe recipe {chosen[0]}\n"
                                     + to_toml(headline_with(load_config(Path(args.config)), chosen[1], chosen[2])))
        console.print(f"wrote {args.choose}: {args.config} with recipe {chosen[0]}")


if __name__ == "__main__":
    main()
