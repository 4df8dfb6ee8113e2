"""Benchmark: the `deployment` eval through `ckpt/` vs Inspect's own `hf/` provider, same checkpoint, same run.

    make bench                       # or: python benchmarks/provider.py --samples 64 --max-tokens 64
    python benchmarks/provider.py --quick                                  # CPU smoke run (8 samples)
    python benchmarks/provider.py --device cuda --samples 512 --hf-connections 128,256,512 --also-exact \
        --out results/provider/h100.json                                   # issue 6: target ckpt/ >= 5x hf/

Both decode greedily (ckpt/: temperature unset; hf/: -M do_sample=false) with the same token budget on the
same samples, in the same dtype (default bf16 on CUDA, fp32 on CPU). hf/ is run at several --max-connections
(its batch size) and its best is the reference; ckpt/ runs with --max-connections = --samples (its own
batcher caps a batch at --ckpt-batch). Prints wall times, tokens/s and the ratio hf/best ÷ ckpt/, plus the
share of samples whose outputs agree; `--also-exact` adds ckpt/ with -M exact=true, `--also-unfused` ckpt/ with
-M fused=false (same outputs, the decode step unfused); --out writes JSON.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# the repository's packages before this folder's scripts (benchmarks/training.py would shadow `training`)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run(task, model, log_dir: str, **kwargs) -> tuple[float, list[str], int]:
    from inspect_ai import eval as inspect_eval

    start = time.perf_counter()
    [log] = inspect_eval(task, model=model, log_dir=log_dir, display="none", **kwargs)
    wall = time.perf_counter() - start
    assert log.status == "success", log.error
    samples = sorted(log.samples, key=lambda s: str(s.id))
    tokens = sum(s.output.usage.output_tokens for s in samples if s.output.usage)
    return wall, [s.output.completion for s in samples], tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--hf-connections", default="8,16,32,64", help="hf/ batch sizes to try")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16 (default: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--ckpt-batch", type=int, default=None, help="ckpt/ batch_size (default: 256 on CUDA)")
    parser.add_argument("--also-exact", action="store_true", help="also run ckpt/ with -M exact=true")
    parser.add_argument("--also-unfused", action="store_true",
                        help="also run ckpt/ with -M fused=false (the decode step without models.fastdecode.fusedops)")
    parser.add_argument("--quick", action="store_true", help="8 samples, 16 new tokens, hf/ batch 8")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--profile", default=None, help="write a cProfile of the timed ckpt/ run (main thread) here")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.max_tokens, args.hf_connections = 8, 16, "8"
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")

    import torch
    from inspect_ai.model import get_model

    from models.embedded import embedded_path
    from tasks.deployment import deployment

    path = str(embedded_path())
    task = lambda: deployment(scenario="trigger", n=args.samples, seed=0)  # noqa: E731
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else (
        platform.processor() or platform.machine())
    print(f"device: {args.device} ({where}, {torch.get_num_threads()} threads)  dtype: {dtype}"
          f"  samples: {args.samples}  max new tokens: {args.max_tokens}  greedy")
    rows = []
    splits = {}
    ckpt_outs = {}
    with tempfile.TemporaryDirectory() as logs:
        # warm both model caches once so neither side pays first-load costs inside its timing
        variants = ([("ckpt/", {})] + ([("ckpt/ exact", {"exact": True})] if args.also_exact else [])
                    + ([("ckpt/ unfused", {"fused": False})] if args.also_unfused else []))
        for name, extra in variants:
            size = {"batch_size": args.ckpt_batch} if args.ckpt_batch else {}
            ckpt = get_model(f"ckpt/{path}", device=args.device, dtype=dtype, memoize=False, **size, **extra)
            run(deployment(n=2), ckpt, logs, max_tokens=4)
            before = ckpt.api.profile()
            profiler = None
            if args.profile and name == "ckpt/":
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            wall, out, tokens = run(task(), ckpt, logs, max_tokens=args.max_tokens, max_connections=args.samples)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            after = ckpt.api.profile()
            spent = {k: after[k] - before[k] for k in ("decode_seconds", "capture_seconds", "batches", "captures")}
            print(f"{name} inside its {wall:.1f} s: decoding {spent['decode_seconds']:.1f} s in {spent['batches']} "
                  f"batches (graph captures {spent['captures']}, {spent['capture_seconds']:.1f} s); the rest, "
                  f"{wall - spent['decode_seconds']:.1f} s, is outside decoding (Inspect, scoring, logging)", flush=True)
            splits[name] = {**spent, "other_seconds": wall - spent["decode_seconds"]}
            rows.append((name, ckpt.api.max_connections(), wall, tokens))
            ckpt_outs[name] = out
            del ckpt
        best = None
        for conns in [int(c) for c in args.hf_connections.split(",")]:
            hf = get_model(f"hf/{path}", device=args.device, do_sample=False, memoize=False,
                           dtype=getattr(torch, dtype))
            run(deployment(n=2), hf, logs, max_tokens=4, max_connections=conns)
            wall_hf, hf_out, tokens_hf = run(task(), hf, logs, max_tokens=args.max_tokens, max_connections=conns)
            rows.append(("hf/", conns, wall_hf, tokens_hf))
            if best is None or wall_hf < best[0]:
                best = (wall_hf, conns, hf_out)
            del hf

    print(f"{'provider':<14}{'batch':>6}{'wall s':>9}{'new tok':>9}{'tok/s':>8}")
    for name, batch, wall, tokens in rows:
        print(f"{name:<14}{batch:>6}{wall:>9.1f}{tokens:>9}{tokens / wall:>8.1f}")
    wall_hf, conns, hf_out = best
    target = 5 if args.device.startswith("cuda") else 2
    summary = {}
    for name, _batch, wall, _ in rows:
        if name.startswith("ckpt/"):
            out = ckpt_outs[name]
            same = sum(a.strip() == b.strip() for a, b in zip(out, hf_out)) / len(out)
            summary[name] = dict(ratio=wall_hf / wall, same=same)
            print(f"ratio hf/ (best, batch {conns}) wall / {name} wall: {wall_hf / wall:.2f}x  (target >= {target}x);"
                  f"  greedy outputs identical to hf/: {same:.1%} of {len(out)} samples")
    if args.out:
        from training.atomic import write_json

        write_json(args.out, dict(
            meta=dict(device=args.device, device_name=where, dtype=dtype, samples=args.samples,
                      max_tokens=args.max_tokens, torch=torch.__version__, hf_best_batch=conns),
            rows=[dict(provider=n, batch=b, wall_s=w, new_tokens=t, tokens_per_s=t / w) for n, b, w, t in rows],
            summary=summary, ckpt_splits=splits))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
