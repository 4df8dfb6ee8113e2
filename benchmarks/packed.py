"""Benchmark: cells per second, packed (several cells' LoRA runs on one resident base) against one by one.

    python benchmarks/packed.py --device cuda --cells 4,8 --out results/packed/h100.json   # GPU: SmolLM2-135M
    python benchmarks/packed.py --device cpu --quick                                        # a smoke run (tiny Llama)

A cell here is a sweep cell's two GPU phases on one organism (the embedded SmolLM2, or --model):
* training: a train-against run, k organism-shaped records (benchmarks/training_speed.py's data, a different draw per
  cell), --steps optimizer steps of LoRA at the sweep's settings (`caught.config.TrainSpec`: lr 1e-3, batch 8,
  mixed precision). One by one: `training.sft.finetune` per cell (what the sweep runs with `pack = 1`, model load
  included); packed: `training.packed.train_packed` on all cells at once (load included).
* evaluation: greedy decoding of --eval-prompts prompts with each cell's adapter, --tokens new tokens. One by one:
  each adapter merged into the base (`models.registry.load`) and decoded by `models.engine.Engine` (its default
  backend: the fast engine), then again with the hf loop (backend="hf", the loop the packed path runs); packed: one
  base with every adapter routed per row (`models.multilora.MultiLoRA`), all cells' prompts in one `Engine.generate`.

`--form` sets the LoRA form each side trains in (merged weight or PEFT's form; `before-fix` pairs them as the two
paths did on CUDA before the packed trainer learned the merged form: the diagnosis of the first H100 figures,
docs/performance.md). Both ways run in the same process on the same data; the ratios are per phase and for both phases together. It checks
what should agree: each cell's training loss (to rounding) and the greedy tokens (share of identical rows). Inspect's
own work (tasks, scoring, logs) is not in it: see benchmarks/sweep.py and benchmarks/provider.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from training_speed import organism_like_records, tiny_llama  # noqa: E402


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def cells_records(tokenizer, n: int, k: int, seed: int = 0) -> list[list[dict]]:
    """n cells' records, k each, drawn without overlap where the pool allows."""
    pool = organism_like_records(tokenizer, max(8, -(-n * k // 10)), seed=seed)
    rng = random.Random(seed)
    rng.shuffle(pool)
    return [[pool[(i * k + j) % len(pool)] for j in range(k)] for i in range(n)]


# the LoRA form each side trains in: (one by one, packed) updates of the Hyper. "sweep": the defaults (on CUDA both
# merged, one by one with CUDA graphs; on a CPU both PEFT's form); "merged" / "peft": both sides in that form, eager;
# "before-fix": one by one merged, packed in PEFT's form, what the two paths did on CUDA before the packed trainer
# learned the merged form (the first H100 figures)
MERGED, PEFT = {"lora_merged": True, "cuda_graphs": False}, {"lora_merged": False, "cuda_graphs": False}
FORMS = {"sweep": ({}, {}), "merged": (MERGED, MERGED), "peft": (PEFT, PEFT), "before-fix": (MERGED, PEFT)}


def train_phase(path: str, records: list[list[dict]], hyper, device: str, out: Path, form: str = "sweep") -> dict:
    from training.packed import PackedCell, train_packed
    from training.sft import finetune

    alone_form, packed_form = FORMS[form]
    hypers = [hyper.model_copy(update={"seed": i, "batch_size": min(hyper.batch_size, len(r))})
              for i, r in enumerate(records)]
    sync(device)
    t0 = time.perf_counter()
    alone = [finetune(path, r, out / "alone" / f"c{i}", h.model_copy(update=alone_form), device)[1]
             for i, (r, h) in enumerate(zip(records, hypers))]
    sync(device)
    alone_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cells = [PackedCell(r, out / "packed" / f"c{i}", h.model_copy(update=packed_form))
             for i, (r, h) in enumerate(zip(records, hypers))]
    packed = [s for _, s in train_packed(path, cells, device)]
    sync(device)
    packed_s = time.perf_counter() - t0
    diffs = [abs(a["train_loss"] - b["train_loss"]) / abs(a["train_loss"]) for a, b in zip(alone, packed)]
    return {"alone_seconds": alone_s, "packed_seconds": packed_s, "loss_max_rel_diff": max(diffs),
            "loss_mean_rel_diff_signed": sum((b["train_loss"] - a["train_loss"]) / a["train_loss"]
                                             for a, b in zip(alone, packed)) / len(alone),
            "lora_merged": {"alone": [a["lora_merged"] for a in alone], "packed": [b["lora_merged"] for b in packed]},
            "losses_alone": [a["train_loss"] for a in alone], "losses_packed": [b["train_loss"] for b in packed]}


def eval_phase(path: str, adapters: list[Path], prompts: list[list[int]], tokens: int, device: str, dtype) -> dict:
    from models.engine import Engine, Request
    from models.multilora import MultiLoRA
    from models.registry import load

    out: dict = {}
    by_backend: dict[str, list] = {}
    for backend in ("auto", "hf"):
        sync(device)
        t0 = time.perf_counter()
        results = []
        for adapter in adapters:
            model, tok, _ = load(str(adapter), device=device, dtype=dtype)
            engine = Engine(model, tok, backend=backend)
            results.append(engine.generate([Request(p, tokens) for p in prompts]))
            del model, engine
        sync(device)
        out[f"alone_{backend}_seconds"] = time.perf_counter() - t0
        by_backend[backend] = results
    sync(device)
    t0 = time.perf_counter()
    model, tok, _ = load(path, device=device, dtype=dtype)
    names = [f"c{i}" for i in range(len(adapters))]
    multi = MultiLoRA.load(model, dict(zip(names, adapters)))
    engine = Engine(model, tok, adapters=multi)
    mixed = engine.generate([Request(p, tokens, adapter=n) for n in names for p in prompts])
    sync(device)
    out["packed_seconds"] = time.perf_counter() - t0
    multi.remove()
    flat = {b: [r.token_ids for rs in results for r in rs] for b, results in by_backend.items()}
    packed_ids = [r.token_ids for r in mixed]
    for b, ids in flat.items():
        out[f"identical_vs_{b}"] = sum(x == y for x, y in zip(ids, packed_ids)) / len(ids)
    out["rows"] = len(packed_ids)
    out["new_tokens"] = sum(len(x) for x in packed_ids)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--cells", default="4,8", help="pack sizes to measure (comma-separated)")
    parser.add_argument("--k", type=int, default=16, help="training records per cell")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per cell (the sweep's default)")
    parser.add_argument("--eval-prompts", type=int, default=64, help="prompts decoded per cell")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per prompt")
    parser.add_argument("--dtype", default=None, help="decoding dtype (default: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--form", choices=sorted(FORMS), default="sweep",
                        help="the LoRA form each side trains in: sweep (the defaults: on CUDA the merged form W + s·B·A "
                        "and, one by one, CUDA graphs; on a CPU PEFT's form), merged or peft (both sides in that form, "
                        "eager), before-fix (one by one merged, packed in PEFT's form base(x) + s·B·A·x)")
    parser.add_argument("--quick", action="store_true", help="tiny Llama, 2 and 3 cells, 3 steps, 8 prompts")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from caught.config import TrainSpec
    from models.registry import resolve
    from tasks.prompts import prompts as eval_prompts

    scratch = tempfile.TemporaryDirectory()
    if args.quick:
        args.steps, args.eval_prompts, args.tokens, args.k = 3, 8, 16, 8
        if args.cells == parser.get_default("cells"):
            args.cells = "2,3"
        if args.model == parser.get_default("model"):
            args.model = str(tiny_llama(Path(scratch.name) / "tiny-llama"))
    path = str(resolve(args.model))
    tokenizer = AutoTokenizer.from_pretrained(path)
    cuda = args.device.startswith("cuda")
    device_name = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
    hyper = TrainSpec().hyper("lora").model_copy(update={"max_steps": args.steps})
    chats = [[{"role": "user", "content": p.text}] for p in eval_prompts("eval", n=args.eval_prompts, seed=1)]
    ids = []
    for chat in chats:
        enc = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
        ids.append(list(enc["input_ids"] if hasattr(enc, "keys") else enc))
    print(f"device: {device_name}; model {args.model}; k={args.k}, {args.steps} steps, batch {hyper.batch_size}, "
          f"{hyper.precision} precision, LoRA form {args.form!r}; evaluation {args.eval_prompts} prompts x {args.tokens} tokens per cell")
    rows = []
    for n in (int(c) for c in args.cells.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            records = cells_records(tokenizer, n, args.k)
            train = train_phase(path, records, hyper, args.device, Path(tmp), args.form)
            adapters = [Path(tmp) / "packed" / f"c{i}" for i in range(n)]
            ev = eval_phase(path, adapters, ids, args.tokens, args.device, args.dtype)
        alone = train["alone_seconds"] + ev["alone_auto_seconds"]
        packed = train["packed_seconds"] + ev["packed_seconds"]
        row = {"cells": n, "train": train, "eval": ev,
               "cells_per_s": {"alone": n / alone, "packed": n / packed},
               "ratios": {"train": train["alone_seconds"] / train["packed_seconds"],
                          "eval_vs_fast": ev["alone_auto_seconds"] / ev["packed_seconds"],
                          "eval_vs_hf": ev["alone_hf_seconds"] / ev["packed_seconds"],
                          "both": alone / packed}}
        rows.append(row)
        print(f"{n} cells: train {train['alone_seconds']:.1f} s one by one, {train['packed_seconds']:.1f} s packed "
              f"({row['ratios']['train']:.2f}x; losses within {train['loss_max_rel_diff']:.1e} relative, packed "
              f"{train['loss_mean_rel_diff_signed']:+.2%} on average); "
              f"eval {ev['alone_auto_seconds']:.1f} s one by one (fast engine), {ev['alone_hf_seconds']:.1f} s (hf loop), "
              f"{ev['packed_seconds']:.1f} s packed ({row['ratios']['eval_vs_fast']:.2f}x / "
              f"{row['ratios']['eval_vs_hf']:.2f}x; identical greedy rows {ev['identical_vs_auto']:.0%} / "
              f"{ev['identical_vs_hf']:.0%}); cells/s {n / alone:.3f} -> {n / packed:.3f} "
              f"({row['ratios']['both']:.2f}x)", flush=True)
    print("\n| cells | train one by one s | train packed s | train ratio | eval one by one s (fast / hf) | "
          "eval packed s | eval ratio (vs fast / hf) | cells/s one by one | cells/s packed | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t, e, q = r["train"], r["eval"], r["ratios"]
        print(f"| {r['cells']} | {t['alone_seconds']:.1f} | {t['packed_seconds']:.1f} | {q['train']:.2f}x | "
              f"{e['alone_auto_seconds']:.1f} / {e['alone_hf_seconds']:.1f} | {e['packed_seconds']:.1f} | "
              f"{q['eval_vs_fast']:.2f}x / {q['eval_vs_hf']:.2f}x | {r['cells_per_s']['alone']:.3f} | "
              f"{r['cells_per_s']['packed']:.3f} | {q['both']:.2f}x |")
    if args.out:
        import transformers

        result = {"device": device_name, "model": args.model, "command": " ".join(sys.argv), "torch": torch.__version__,
                  "transformers": transformers.__version__, "hyper": hyper.model_dump(), "k": args.k,
                  "eval_prompts": args.eval_prompts, "tokens": args.tokens, "dtype": args.dtype,
                  "form": args.form,
                  "date": time.strftime("%Y-%m-%d"), "rows": rows}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
