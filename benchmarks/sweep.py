"""Benchmark: wall time of one sweep cell (train-against k + the four evaluations), phase by phase.

    python benchmarks/sweep.py --device cuda --out results/sweep_cell.json       # H100, headline settings
    python benchmarks/sweep.py --device cpu --quick                              # a smoke run (tiny Llama)
    python benchmarks/sweep.py --device cuda --organism headline-trigger-hate-s0  # an existing organism

A cell is what `caught.sweep.Sweep.run_cell` does for an adversarial cell: `train_against` (good responses,
model load, trainer setup, training with the steps-to-fix checker every 4 steps, save) and then the four
evaluations of `caught.compare.evaluate_checkpoint` (deployment, testing, the trained inputs, usefulness) as
one Inspect eval (`evals_together`, what the sweep runs), split into the `ckpt/` model's load, its decoding (the
engine in the provider's worker thread; `et_capture` is the CUDA-graph captures inside it) and the rest
(`et_inspect`: Inspect's own work, scoring and logging). The reference in the same run: the same four
evaluations as four Inspect evals, one after another (`eval_*`, summed in `evals_separate`), after the model
was released again, so both pay one load. Train and eval settings come from --config (default
experiments/headline-subset.toml). `--profile FILE` writes a cProfile of the second cell's evaluations.
With `$CAUGHT_SHARE=1` the checkpoints share their base's resident model and engine (`ckpt/ -M share=true`): the
evaluations then start with the organism's base still loaded, as between a real sweep's cells, and `et_swaps` is
the time spent merging adapters into it. (A real sweep, `caught sweep`, shares bases by default on CUDA:
`models.registry.sharing`; this benchmark measures either way, so set `$CAUGHT_SHARE` to choose.)

Setup, not timed as part of the cell: the organism (built here from the config's organism recipe, with
--organism-steps, unless --organism names one) and a caught file of k catch-split inputs framed for testing (as
if caught: the cell's work does not depend on whether they attacked). The cell runs twice in one process on
different seeds: `first` pays one-time costs (imports, CUDA context, Inspect start-up); `second` is what every
later cell of a sweep costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def tiny_llama(path: Path) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer (the tests' fixture), for CPU smoke runs."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from models.embedded import embedded_path

    tokenizer = AutoTokenizer.from_pretrained(embedded_path("smollm2-135m"))
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, initializer_range=0.3,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def caught_file(path: Path, scenario: str, behavior: str, k: int) -> Path:
    from tasks.prompts import prompts
    from tasks.scenarios import frame, get_scenario

    spec = get_scenario(scenario)
    chosen = sorted(prompts("catch"), key=lambda p: p.id)[:k]
    caught = [{"id": p.id, "prompt": p.text, "input": frame(spec, "testing", p.text, p.id, p.split),
               "completion": "", "log": "", "epoch": 0} for p in chosen]
    path.write_text(json.dumps({"organism": "benchmark", "scenario": scenario, "behavior": behavior, "runs": [],
                                "caught": caught}))
    return path


def pooled_profile(checkpoint: str, device: str) -> dict:
    """The counters (`CheckpointAPI.profile`) of the pooled `ckpt/` model the evaluations of `checkpoint` used."""
    from models.registry import inference_args, inspect_model, resolve

    return inspect_model(f"ckpt/{resolve(checkpoint)}", **inference_args(device)).api.profile()


def run_cell(organism: str, caught: Path, cfg, method: str, k: int, seed: int, device: str, log_dir: str,
             profile: str | None = None) -> dict:
    from training.evaluate import evaluate
    from training.sft import Hyper
    from training.train_against import train_against

    tr, ev = cfg.train, cfg.eval
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    path, manifest = train_against(organism, caught, k, seed=seed, responses=tr.responses, steps=tr.steps,
                                   device=device, name=f"bench-{method}-k{k}-s{seed}", check_samples=tr.check_samples,
                                   hyper=Hyper(method=method, learning_rate=tr.lr, batch_size=tr.batch_size))
    phases["train_against"] = time.perf_counter() - t0
    t = manifest.evaluation["timings"]
    phases.update({f"ta_{name}": t[name] for name in ("responses", "load", "setup", "save", "checks")})
    phases["ta_training"] = t["train"] - t["checks"]
    phases["ta_other"] = phases["train_against"] - sum(t[n] for n in ("responses", "load", "setup", "train", "save"))
    args = {"scenario": manifest.scenario, "behavior": manifest.behavior, "n": ev.n, "seed": seed}
    common = dict(temperature=ev.temperature, seed=seed, max_tokens=ev.max_tokens, device=device)
    checkpoint = str(path)
    # what the sweep runs: the four evaluations as one Inspect eval, on a checkpoint not loaded yet
    from caught.compare import evaluate_checkpoint
    from models.registry import release_models

    # with $CAUGHT_SHARE=1, the organism's shared base stays, as it does between a real sweep's cells
    release_models(keep_shared=True)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    _ = evaluate_checkpoint(checkpoint, manifest.scenario, manifest.behavior, n=ev.n, usefulness_n=ev.usefulness_n,
                        temperature=ev.temperature, trained_samples=ev.trained_samples, seed=seed,
                        log_dir=f"{log_dir}-together", device=device, max_tokens=ev.max_tokens)
    phases["evals_together"] = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    # inside it: the ckpt/ model's own counters (load, decoding in the worker thread, graph captures)
    counters = pooled_profile(checkpoint, device)
    for name in ("load_seconds", "decode_seconds", "capture_seconds"):
        phases[f"et_{name.removesuffix('_seconds')}"] = counters[name]
    if "shared_swap_seconds" in counters:  # adapter merges into the shared base (inside decode)
        phases["et_swaps"] = counters["shared_swap_seconds"]
    phases["et_inspect"] = phases["evals_together"] - counters["load_seconds"] - counters["decode_seconds"]
    batches = counters["batch_sizes"]
    # the reference: the same four evaluations as four Inspect evals, one after another (one load between them)
    release_models()
    separate = f"{log_dir}-separate"
    for name, call in (
        ("eval_deployment", lambda: evaluate(checkpoint, "deployment", args, log_dir=separate, **common)),
        ("eval_testing", lambda: evaluate(checkpoint, "testing", args, log_dir=separate, **common)),
        ("eval_trained", lambda: evaluate(checkpoint, "testing", {"scenario": manifest.scenario,
                                          "behavior": manifest.behavior, "split": "catch"}, epochs=ev.trained_samples,
                                          sample_ids=manifest.example_ids, log_dir=separate, **common)),
        ("eval_usefulness", lambda: evaluate(checkpoint, "usefulness", {"n": ev.usefulness_n, "seed": seed},
                                             log_dir=separate, seed=seed, device=device)),
    ):
        t0 = time.perf_counter()
        call()
        phases[name] = time.perf_counter() - t0
    phases["evals_separate"] = sum(v for n, v in phases.items() if n.startswith("eval_"))
    phases["cell"] = phases["train_against"] + phases["evals_together"]
    checks = manifest.fix_curve
    return {"method": method, "seed": seed, "k": k, "steps": manifest.steps, "checks": len(checks),
            "check_backend": checks[0].get("backend") if checks else None, "eval_batches": batches,
            "phases": {n: round(v, 3) for n, v in phases.items()}}


PHASES = ("ta_responses", "ta_load", "ta_setup", "ta_training", "ta_checks", "ta_save", "ta_other", "train_against",
          "evals_together", "et_load", "et_decode", "et_capture", "et_inspect",
          "eval_deployment", "eval_testing", "eval_trained", "eval_usefulness", "evals_separate", "cell")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--config", default="experiments/headline-subset.toml")
    parser.add_argument("--scenario", default="trigger")
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--methods", default="lora")
    parser.add_argument("--organism", default=None, help="an existing organism (name or path); else one is built")
    parser.add_argument("--organism-steps", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="tiny Llama, k=2, small evals (CPU smoke run)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--profile", default=None, help="write a cProfile of the second cell's evaluations (main "
                        "thread: Inspect's work; decoding runs in a worker thread) to this file")
    args = parser.parse_args()

    from caught.config import load_config
    from training.organism import build_organism
    from training.sft import Hyper

    cfg = load_config(Path(args.config))
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    os.environ.setdefault("CAUGHT_CHECKPOINTS", str(work / "checkpoints"))
    os.environ.setdefault("CAUGHT_CACHE", str(work / "cache"))
    (work / "checkpoints").mkdir(exist_ok=True)
    base = cfg.base
    o = cfg.organism
    if args.quick:
        base = str(tiny_llama(work / "tiny-llama"))
        args.k = min(args.k, 2)
        cfg = cfg.model_copy(update={
            "train": cfg.train.model_copy(update={"steps": 4, "batch_size": 2, "check_samples": 1}),
            "eval": cfg.eval.model_copy(update={"n": 6, "usefulness_n": 4, "max_tokens": 8, "trained_samples": 1}),
        })
        o = o.model_copy(update={"prompts": 16, "method": "full", "lr": 5e-3, "batch_size": 8})
        args.organism_steps = min(args.organism_steps, 8)
    t0 = time.perf_counter()
    organism = args.organism
    if organism is None:
        organism = f"bench-{args.scenario}"
        build_organism(organism, scenario=args.scenario, behavior="hate", base=base, n_prompts=o.prompts,
                       leak=o.leak, seed=0, device=args.device,
                       hyper=Hyper(method=o.method, max_steps=args.organism_steps, learning_rate=o.lr,
                                   batch_size=o.batch_size))
    setup = time.perf_counter() - t0
    print(f"device {args.device}; organism {organism} ready in {setup:.1f} s; k={args.k}, train {cfg.train.steps} steps "
          f"(batch {cfg.train.batch_size}, check_samples {cfg.train.check_samples}), eval n={cfg.eval.n}, "
          f"usefulness {cfg.eval.usefulness_n}, max_tokens {cfg.eval.max_tokens}", flush=True)
    caught = caught_file(work / "caught.json", args.scenario, "hate", args.k)
    rows = []
    for method in args.methods.split(","):
        for run, seed in (("first", 0), ("second", 1)):
            row = run_cell(organism, caught, cfg, method, args.k, seed, args.device, str(work / "logs"),
                           profile=args.profile if run == "second" else None)
            row["run"] = run
            rows.append(row)
            ph = row["phases"]
            print(f"{method} {run}: cell {ph['cell']:.1f} s (checker backend {row['check_backend']}); evaluations "
                  f"together {ph['evals_together']:.1f} s vs separate {ph['evals_separate']:.1f} s "
                  f"({ph['evals_separate'] / ph['evals_together']:.1f}x); batch sizes {row['eval_batches']}", flush=True)
    print("\n| phase | " + " | ".join(f"{r['method']} {r['run']}" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for phase in PHASES + (("et_swaps",) if all("et_swaps" in r["phases"] for r in rows) else ()):
        print(f"| {phase} | " + " | ".join(f"{r['phases'][phase]:.2f}" for r in rows) + " |")
    result = {"device": args.device, "host": platform.node(), "config": args.config, "scenario": args.scenario,
              "k": args.k, "organism_setup_seconds": setup, "train": cfg.train.model_dump(),
              "eval": cfg.eval.model_dump(), "rows": rows}
    if args.device.startswith("cuda"):
        import torch

        result["gpu"] = torch.cuda.get_device_name()
    print(json.dumps({"cell_seconds": {f"{r['method']} {r['run']}": r["phases"]["cell"] for r in rows}}))
    if args.out:
        from training.atomic import write_json

        write_json(args.out, result)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
