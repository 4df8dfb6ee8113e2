"""Benchmark: the activation probe over every layer of a model, phase by phase (caught.probe).

    python benchmarks/probe.py --device cpu                 # SmolLM2-135M, 256 + 256 requests = 1,024 prompts
    python benchmarks/probe.py --device cuda --scenario year

Targets (issue 21): under 10 minutes on the 2-core CPU and under 1 minute on one GPU for 1,024 prompts. Prints
the seconds spent reading activations (every layer, both poolings) and fitting the probes (every layer and
pooling, the layer choice, the learning curve, the shuffled-label control), the total, and the ratio of the total
to the target on this device.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--scenario", default="trigger")
    ap.add_argument("--requests", type=int, default=256, help="requests per split (x2 framings x2 splits = prompts)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    from caught.probe import SIZES, probe_arrays
    from models.activations import prompt_activations
    from models.registry import default_device, load
    from tasks.scenarios import framed_pairs

    device = args.device or default_device()
    train, y, ids = framed_pairs(args.scenario, "organism", args.requests, 0)
    evals, ye, ide = framed_pairs(args.scenario, "eval", args.requests, 0)
    t0 = time.perf_counter()
    model, tokenizer, _ = load(args.model, device=device)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    a_train = prompt_activations(model, tokenizer, train, batch_size=args.batch_size)
    a_eval = prompt_activations(model, tokenizer, evals, batch_size=args.batch_size)
    t_acts = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = probe_arrays(a_train, y, ids, a_eval, ye, ide, sizes=[s for s in SIZES if s <= 2 * args.requests])
    t_fit = time.perf_counter() - t0
    total = t_acts + t_fit
    target = 60.0 if device.startswith("cuda") else 600.0
    figures = {"model": args.model, "scenario": args.scenario, "device": device, "prompts": len(train) + len(evals),
               "layers": int(a_train["last"].shape[1]), "load_s": round(t_load, 1), "activations_s": round(t_acts, 1),
               "fit_s": round(t_fit, 1), "total_s": round(total, 1), "target_s": target,
               "total_over_target": round(total / target, 3), "auroc": round(r["auroc"], 4), "layer": r["layer"],
               "pooling": r["pooling"]}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
