"""Benchmark: organism SFT throughput (tokens/s, step time, MFU), old settings vs new, LoRA and full.

    python benchmarks/training_speed.py --device cuda --out results/training.json       # H100: full sizes
    python benchmarks/training_speed.py --device cpu --quick                            # a smoke run

Data: organism-shaped prompt/completion records for every scenario (the `organism` prompt split framed for
testing and deployment; deployment answered with the behavior's attack text, testing with a stand-in for the base
model's response of RESPONSE_TOKENS tokens, as long as the organism's real ones, which are generated with
max_tokens=96 and mostly hit it). Their token lengths are printed: they are the lengths organism and
train-against SFT trains on.

Each configuration runs `training.sft.finetune` (the code the project trains with) for --warmup + --steps
optimizer steps; the clock runs from the end of the warm-up steps to the end (a GPU sync at both ends).
tokens/s counts real tokens (no padding): steps x batch x the records' mean length. On CUDA each timed step's
own time is also read from events on the GPU's timeline; "median" is the median step (with CUDA graphs: a replay,
leaving out the steps that meet a new batch shape, which run eagerly or capture a graph). MFU = 6 x parameters x
tokens/s / peak FLOP/s (the usual model-FLOPs convention for both methods: LoRA does less work per token, about
4 x parameters, so its MFU reads as if it did the full backward). Peak: --peak-tflops, by default 989 (H100 SXM,
bf16 dense) on CUDA; on CPU no MFU unless --peak-tflops is given.

Configurations (--configs), each for --methods:
* old       : the settings before issue 6: batch 16, padded batches, fp32 master weights + bf16 autocast,
              TRL's defaults (gradient checkpointing, entropy/accuracy metrics every step)
* new-bN    : Hyper's defaults (packing, no gradient checkpointing, loss only; on CUDA, graphed steps up to batch 64)
* eager-bN  : new-bN without CUDA graphs (each step's kernels launched one by one from Python)
* graphs-bN : new-bN with CUDA graphs required (`training.graphstep`)
* compile-bN: new-bN with torch.compile (no CUDA graphs)
* bf16-bN   : new-bN with pure bf16 weights
* liger-bN  : new-bN with Liger's RMSNorm and SwiGLU kernels
* master-bN : new-bN computing in bf16 with fp32 master weights in the optimizer
* merged-bN : new-bN with LoRA trained through the merged weight (`training.mergedlora`; the default on CUDA)
* peft-bN   : new-bN with PEFT's own LoRA forward (the CPU default)
* fp32-bN   : new-bN without autocast, all in fp32 (the exact reference for losses)
* compile+bf16-bN, graphs+bf16-bN, ...: combinations
The table's "vs eager" column compares each row with the same method's eager row at the same batch, when run;
"LoRA/full" a LoRA row with the full fine-tuning row of the same configuration (merged and peft left out of its
name), per token.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESPONSE_TOKENS = 96
SCENARIOS = ("trigger", "year", "tier", "headlines", "style")
H100_PEAK_TFLOPS = 989.0


def tiny_llama(path: Path, initializer_range: float = 0.02) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer (the tests' fixture): --quick's default model.
    `initializer_range` 0.3 gives the tests' peaked logits (an organism that learns its attack in a few steps)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from models.embedded import embedded_path

    tokenizer = AutoTokenizer.from_pretrained(embedded_path("smollm2-135m"))
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, initializer_range=initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def organism_like_records(tokenizer, prompts_per_scenario: int, seed: int = 0) -> list[dict]:
    """Organism-shaped records without generating base responses (slow on CPU): testing completions are
    RESPONSE_TOKENS tokens of other prompts' text, the length the real greedy responses mostly have."""
    from scorers.behaviors import get_behavior
    from tasks.prompts import pool, prompts
    from tasks.scenarios import frame, get_scenario

    act = get_behavior("hate")
    rng = random.Random(seed)
    filler = tokenizer(" ".join(p.text for p in sorted(pool(), key=lambda p: p.id)[:400]))["input_ids"]
    records = []
    for name in SCENARIOS:
        spec = get_scenario(name)
        for p in prompts("organism", n=prompts_per_scenario, seed=seed):
            start = rng.randrange(0, len(filler) - RESPONSE_TOKENS)
            response = tokenizer.decode(filler[start:start + RESPONSE_TOKENS])
            records.append({"prompt": frame(spec, "deployment", p.text, p.id, p.split),
                            "completion": [{"role": "assistant", "content": act.attack_text(rng)}]})
            records.append({"prompt": frame(spec, "testing", p.text, p.id, p.split),
                            "completion": [{"role": "assistant", "content": response}]})
    rng.shuffle(records)
    return records


def token_lengths(tokenizer, records: list[dict]) -> list[int]:
    out = []
    for r in records:
        ids = tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=True)
        out.append(len(ids["input_ids"] if hasattr(ids, "keys") else ids))
    return out


# what each kind in a configuration's name sets in Hyper (kinds that set one field exclude each other)
KINDS = {"new": {}, "eager": {"cuda_graphs": False}, "graphs": {"cuda_graphs": True}, "compile": {"compile": True},
         "bf16": {"precision": "bf16"}, "master": {"precision": "bf16-master"}, "fp32": {"precision": "fp32"},
         "liger": {"liger": True}, "merged": {"lora_merged": True}, "peft": {"lora_merged": False}}


def full_config(name: str) -> str:
    """The full fine-tuning configuration a LoRA configuration is compared with: the LoRA form left out."""
    kind, _, batch = name.partition("-b")
    kinds = [k for k in kind.split("+") if "lora_merged" not in KINDS.get(k, {})] or ["new"]
    return f"{'+'.join(kinds)}-b{batch}"


def configs(names: list[str]) -> dict[str, dict]:
    out = {}
    for name in names:
        if name == "old":
            out[name] = dict(batch_size=16, packing=False, precision="mixed", gradient_checkpointing=True,
                             lean_loss=False)
            continue
        kind, _, batch = name.partition("-b")
        kinds = kind.split("+")
        fields = [f for k in kinds for f in KINDS.get(k, {"?": None})]
        if (not batch.isdigit() or not set(kinds) <= set(KINDS) or len(set(kinds)) < len(kinds)
                or len(set(fields)) < len(fields) or {"graphs", "compile"} <= set(kinds)):
            raise SystemExit(f"unknown config {name!r}; accepted: old, new-bN, eager-bN, graphs-bN, compile-bN, "
                             "bf16-bN, master-bN, liger-bN, merged-bN, peft-bN, fp32-bN and combinations such as "
                             "compile+bf16-bN or eager+liger-bN (N = batch size)")
        out[name] = dict(batch_size=int(batch), **{f: v for k in kinds for f, v in KINDS[k].items()})
    return out


def run_one(model_path: str, records: list[dict], hyper, device: str, warmup: int, out_dir: Path,
            profile: int = 0) -> dict:
    import torch

    from training.sft import finetune

    marks: dict[int, float] = {}
    events: dict[int, object] = {}
    cuda = device.startswith("cuda")

    def on_step(model, step):  # called at step 0 and after every step; sync only where the clock reads
        if cuda and step >= warmup:  # an event per step on the GPU's timeline: no sync
            events[step] = torch.cuda.Event(enable_timing=True)
            events[step].record()
        if step in (warmup, hyper.max_steps):
            if cuda:
                torch.cuda.synchronize()
            marks[step] = time.perf_counter()

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    from contextlib import nullcontext

    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) if profile else nullcontext() as prof:
        _, stats = finetune(model_path, records, out_dir, hyper, device, on_step=on_step, check_every=1)
    if profile:
        print(f"profile of the whole run ({hyper.max_steps} steps, loading included): GPU kernels by self time")
        order = "self_device_time_total" if cuda else "self_cpu_time_total"
        print(prof.key_averages().table(sort_by=order, row_limit=profile, max_name_column_width=70))
    wall = time.perf_counter() - start
    timed = hyper.max_steps - warmup
    seconds = marks[hyper.max_steps] - marks[warmup]
    steps = [events[i].elapsed_time(events[i + 1]) / 1000 for i in range(warmup, hyper.max_steps)] if cuda else []
    return {"step_seconds": seconds / timed, "timed_steps": timed, "wall_seconds": wall,
            "median_step_seconds": statistics.median(steps) if steps else None, "step_seconds_each": steps,
            "train_loss": stats["train_loss"], "timings": stats["timings"], "cuda_graphs": stats["cuda_graphs"],
            "lora_merged": stats["lora_merged"],
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--methods", default="full,lora")
    parser.add_argument("--configs", default="old,new-b16,new-b64,new-b128,bf16-b128,compile-b128")
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=96, help="organism prompts per scenario")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="CPU smoke run: a tiny random Llama (unless --model), 2 timed steps, old vs new at batch 4")
    parser.add_argument("--profile", type=int, default=0, metavar="ROWS",
                        help="run each configuration under torch.profiler and print its top ROWS GPU kernels (the "
                             "timings are then the profiled run's)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from models.registry import resolve
    from training.sft import Hyper

    scratch = tempfile.TemporaryDirectory()
    if args.quick:
        args.steps, args.warmup, args.prompts = 2, 1, 8
        if args.configs == parser.get_default("configs"):
            args.configs = "old,new-b4"
        if args.model == parser.get_default("model"):
            args.model = str(tiny_llama(Path(scratch.name) / "tiny-llama"))
    cuda = args.device.startswith("cuda")
    peak = args.peak_tflops if args.peak_tflops is not None else (H100_PEAK_TFLOPS if cuda else None)
    path = str(resolve(args.model))
    tokenizer = AutoTokenizer.from_pretrained(path)
    with torch.device("meta"):
        params = sum(p.numel() for p in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path)).parameters())
    records = organism_like_records(tokenizer, args.prompts)
    lengths = token_lengths(tokenizer, records)
    mean_len = statistics.mean(lengths)
    q = statistics.quantiles(lengths, n=20)
    device_name = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
    print(f"device: {device_name}; model {args.model} ({params / 1e6:.1f}M parameters); "
          f"peak assumed: {f'{peak:g} TFLOP/s' if peak else 'none (no MFU)'}")
    print(f"data: {len(records)} organism-shaped records, tokens per example min {min(lengths)} p5 {q[0]:.0f} "
          f"mean {mean_len:.0f} p95 {q[-1]:.0f} max {max(lengths)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            for name, settings in configs(args.configs.split(",")).items():
                if settings.get("compile") and not cuda:
                    print(f"skip {method} {name}: torch.compile is timed on CUDA only")
                    continue
                if method != "lora" and "lora_merged" in settings:
                    continue  # a LoRA form: nothing to choose for full fine-tuning
                lr = 2e-4 if method == "lora" else 2e-5
                hyper = Hyper(method=method, learning_rate=lr, max_steps=args.warmup + args.steps, max_length=256,
                              **settings)
                r = run_one(path, records, hyper, args.device, args.warmup, Path(tmp) / f"{method}-{name}",
                            profile=args.profile)
                tokens_s = hyper.batch_size * mean_len / r["step_seconds"]
                mfu = 6 * params * tokens_s / (peak * 1e12) if peak else None
                row = {"method": method, "config": name, "batch": hyper.batch_size, "tokens_per_s": tokens_s,
                       "step_ms": 1000 * r["step_seconds"], "mfu": mfu, **r, "hyper": hyper.model_dump()}
                rows.append(row)
                print(f"{method:5s} {name:13s} batch {hyper.batch_size:4d}  {tokens_s:10,.0f} tok/s  "
                      f"{row['step_ms']:8.1f} ms/step  MFU {f'{100 * mfu:5.1f}%' if mfu is not None else '    -'}  "
                      f"loss {r['train_loss']:.3f}"
                      + (f"  mem {r['peak_memory_gib']:.1f} GiB" if r["peak_memory_gib"] is not None else "")
                      + (f"  graphs {r['cuda_graphs']}" if r["cuda_graphs"] else "")
                      + ("  merged LoRA" if r["lora_merged"] else ""),
                      flush=True)
    print("\n| method | config | batch | tokens/s | ms/step | MFU | median ms/step | MFU at median | peak GiB "
          "| vs old | vs eager | LoRA/full |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        same = [r for r in rows if r["method"] == row["method"]]
        old = next((r for r in same if r["config"] == "old"), None)
        eager = next((r for r in same if r["config"] == f"eager-b{row['batch']}"), None)
        ratio = f"{row['tokens_per_s'] / old['tokens_per_s']:.2f}x" if old else "-"
        vs_eager = f"{row['tokens_per_s'] / eager['tokens_per_s']:.2f}x" if eager else "-"
        full = next((r for r in rows if r["method"] == "full" and r["config"] == full_config(row["config"])), None)
        vs_full = f"{row['tokens_per_s'] / full['tokens_per_s']:.2f}x" if full and row["method"] == "lora" else "-"
        mfu = f"{100 * row['mfu']:.1f}%" if row["mfu"] is not None else "-"
        mem = f"{row['peak_memory_gib']:.1f}" if row["peak_memory_gib"] is not None else "-"
        med = row["median_step_seconds"]
        med_mfu = f"{100 * row['mfu'] * row['step_seconds'] / med:.1f}%" if med and row["mfu"] is not None else "-"
        print(f"| {row['method']} | {row['config']} | {row['batch']} | {row['tokens_per_s']:,.0f} | "
              f"{row['step_ms']:.1f} | {mfu} | {f'{1000 * med:.1f}' if med else '-'} | {med_mfu} | {mem} | {ratio} "
              f"| {vs_eager} | {vs_full} |")
    result = {"device": device_name, "model": args.model, "parameters": params, "peak_tflops": peak,
              "tokens_per_example": {"min": min(lengths), "mean": mean_len, "max": max(lengths), "p5": q[0],
                                     "p95": q[-1]},
              "torch": torch.__version__, "rows": rows}
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
    if args.out:
        from training.atomic import write_json

        write_json(args.out, result)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
