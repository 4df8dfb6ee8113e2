"""Benchmark: a sweep group's checkpoint evaluations through Inspect, side by side (`eval.pack`) against one by one.

    python benchmarks/eval_pack.py --device cuda --cells 4,8 --out results/packed/eval-pack-h100.json   # GPU
    python benchmarks/eval_pack.py --device cpu --quick                                                 # smoke run

What a sweep cell's evaluation phase runs, on N LoRA checkpoints of one organism (random adapters of the sweep's
rank on the embedded SmolLM2, or --model; --quick: a tiny random Llama): each checkpoint's Inspect evaluations
(`caught.compare.checkpoint_evaluations`: deployment and testing at --n prompts and --tokens new tokens, sampled at
temperature 1; usefulness under both framings and the capability check at --items items, greedy).
* one by one: `training.evaluate.evaluate_many` per checkpoint, as a sweep with `eval.pack = 1` runs it (on CUDA in
  `models.registry.sharing`: the organism resident, each adapter merged into it in turn, the fast engine decoding);
* side by side (`--decode`), as a sweep with `eval.pack = N` runs it, one Inspect eval of every checkpoint's tasks:
  `routed` (`eval.pack_decode = "routed"`, `evaluate_pack(route=True)`): their requests in the same batches, each row
  through its own adapter (`ckpt/` share=routed; the fast engine's routed step, the hf loop before 2026-12-07's
  second half, which the committed results/packed/ figures measured); `merged` (`evaluate_pack(route=False)`): each batch one
  checkpoint's, on CUDA its adapter merged into the shared organism in turn (the fast engine), on a CPU each its own
  model.
All in one process on the same settings (the one-by-one side first, so it pays the process's warm-up; a warm-up eval
of the organism runs before both). It prints the seconds of each, their ratio, the samples per second, and the share
of samples whose completions are identical both ways (greedy and sampled separately: in bf16 a row's tokens depend on
its batch-mates and on merged vs routed rounding, docs/sweeps-and-reports.md, Reproducibility; fp32 with
`CAUGHT_DTYPE=float32`). Inspect's logs are written to a temporary directory and not reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from training_speed import tiny_llama  # noqa: E402


def random_adapter(base: str, out: Path, seed: int, rank: int) -> Path:
    """A LoRA adapter on every linear layer of `base` with non-trivial weights (B drawn, not zero), seeded."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(seed)
    peft = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear",
                                            lora_dropout=0.0))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    peft.save_pretrained(out)
    config = json.loads((out / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(base)
    (out / "adapter_config.json").write_text(json.dumps(config))
    return out


def identical(jobs, alone, packed) -> dict[bool, list[bool]]:
    """Per sample (matched by evaluation, sample id and epoch), whether both ways gave the same completion, split into
    greedy (False) and sampled (True) evaluations."""
    same: dict[bool, list[bool]] = {False: [], True: []}
    for (_, evaluations), a_logs, p_logs in zip(jobs, alone, packed):
        for e, a, b in zip(evaluations, a_logs, p_logs):
            theirs = {(str(x.id), x.epoch): x.output.completion for x in b.samples or []}
            for x in a.samples or []:
                if (str(x.id), x.epoch) in theirs:
                    same[bool(e.temperature)].append(x.output.completion == theirs[(str(x.id), x.epoch)])
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--cells", default="4,8", help="checkpoints evaluated together (comma-separated)")
    parser.add_argument("--n", type=int, default=64, help="eval prompts per side (deployment, testing)")
    parser.add_argument("--items", type=int, default=60, help="usefulness items per framing, and capability items")
    parser.add_argument("--tokens", type=int, default=128, help="new tokens of the attack evaluations")
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank of the adapters")
    parser.add_argument("--decode", nargs="+", default=["routed", "merged"], choices=["routed", "merged"],
                        help="side by side as eval.pack_decode decodes: routed (each row through its own adapter) "
                        "and/or merged (each batch one checkpoint's, merged in turn where ckpt/ shares the base)")
    parser.add_argument("--quick", action="store_true", help="tiny Llama, 2 and 3 checkpoints, n 8, 4 items, 16 tokens")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import torch

    from caught.compare import checkpoint_evaluations
    from models.registry import inference_args, release_models, resolve, sharing
    from training.evaluate import evaluate_many, evaluate_pack

    scratch = tempfile.TemporaryDirectory()
    root = Path(scratch.name)
    if args.quick:
        args.n, args.items, args.tokens, args.rank = 8, 4, 16, 4
        if args.cells == parser.get_default("cells"):
            args.cells = "2,3"
        if args.model == parser.get_default("model"):
            args.model = str(tiny_llama(root / "tiny-llama"))
    base = str(resolve(args.model))
    cuda = args.device.startswith("cuda")
    device_name = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
    dtype = inference_args(args.device)["dtype"]
    settings = dict(n=args.n, usefulness_n=args.items, capability_n=args.items, temperature=1.0, max_tokens=args.tokens)
    print(f"device: {device_name}; model {args.model}; decoding in {dtype}; per checkpoint: deployment and testing "
          f"{args.n} prompts x {args.tokens} tokens (temperature 1), usefulness 2 x {args.items} and capability "
          f"{args.items} items (greedy); LoRA rank {args.rank}", flush=True)
    rows = []
    with sharing(cuda):  # as a sweep on this device evaluates one by one
        warm = checkpoint_evaluations(base, "trigger", "hate", **settings)
        evaluate_many(base, list(warm.values()), log_dir=str(root / "warm"), device=args.device, reuse=False)
        for n in (int(c) for c in args.cells.split(",")):
            adapters = [str(random_adapter(base, root / f"a{n}-{i}", seed=1000 * n + i, rank=args.rank))
                        for i in range(n)]
            jobs = [(a, list(checkpoint_evaluations(a, "trigger", "hate", **settings).values())) for a in adapters]
            t0 = time.perf_counter()
            alone = [evaluate_many(a, evaluations, log_dir=str(root / f"alone{n}"), device=args.device, reuse=False)
                     for a, evaluations in jobs]
            alone_s = time.perf_counter() - t0
            samples = sum(len(log.samples or []) for logs in alone for log in logs)
            row = {"checkpoints": n, "samples": samples, "alone_seconds": alone_s,
                   "samples_per_s": {"alone": samples / alone_s}}
            for decode in args.decode:
                release_models(keep_shared=True)
                t0 = time.perf_counter()
                packed = evaluate_pack(jobs, log_dir=str(root / f"{decode}{n}"), device=args.device, reuse=False,
                                       route=decode == "routed")
                packed_s = time.perf_counter() - t0
                same = identical(jobs, alone, packed)
                row[decode] = {"seconds": packed_s, "ratio": alone_s / packed_s, "samples_per_s": samples / packed_s,
                               "matched_samples": len(same[False]) + len(same[True]),
                               "identical_greedy": sum(same[False]) / max(1, len(same[False])),
                               "greedy_n": len(same[False]),
                               "identical_sampled": sum(same[True]) / max(1, len(same[True])),
                               "sampled_n": len(same[True])}
                r = row[decode]
                print(f"{n} checkpoints, {samples} samples: one by one {alone_s:.1f} s, side by side {decode} "
                      f"{packed_s:.1f} s ({r['ratio']:.2f}x; {samples / alone_s:.1f} -> {r['samples_per_s']:.1f} "
                      f"samples/s); identical completions: greedy {r['identical_greedy']:.0%} of {r['greedy_n']}, "
                      f"sampled {r['identical_sampled']:.0%} of {r['sampled_n']}", flush=True)
            rows.append(row)
            release_models()
    print("\n| checkpoints | samples | one by one s | side by side | s | ratio | identical greedy | identical sampled |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        for decode in args.decode:
            r = row[decode]
            print(f"| {row['checkpoints']} | {row['samples']} | {row['alone_seconds']:.1f} | {decode} | "
                  f"{r['seconds']:.1f} | {r['ratio']:.2f}x | {r['identical_greedy']:.0%} of {r['greedy_n']} | "
                  f"{r['identical_sampled']:.0%} of {r['sampled_n']} |")
    if args.out:
        import inspect_ai
        import transformers

        result = {"device": device_name, "model": args.model, "command": " ".join(sys.argv), "dtype": dtype,
                  "torch": torch.__version__, "transformers": transformers.__version__,
                  "inspect_ai": inspect_ai.__version__, "settings": settings, "rank": args.rank,
                  "date": time.strftime("%Y-%m-%d"), "rows": rows}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
