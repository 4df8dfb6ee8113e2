"""Benchmark: the `deployment` eval through `ckpt/` vs Inspect's own `hf/` provider, same checkpoint, same run.

    make bench                       # or: python benchmarks/provider.py --samples 64 --max-tokens 64

Both decode greedily (ckpt/: temperature unset; hf/: -M do_sample=false) with the same token budget on the
same 64 samples. hf/ is run at several --max-connections (its batch size) and its best is the reference.
Prints wall times, tokens/s and the ratio hf/best ÷ ckpt/, plus the share of samples whose outputs agree.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
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
    args = parser.parse_args()

    import torch
    from inspect_ai.model import get_model

    from tasks.deployment import deployment
    from training.embedded import embedded_path

    path = str(embedded_path())
    task = lambda: deployment(scenario="trigger", n=args.samples, seed=0)  # noqa: E731
    print(f"device: {args.device} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
          f"  samples: {args.samples}  max new tokens: {args.max_tokens}  greedy")
    rows = []
    with tempfile.TemporaryDirectory() as logs:
        # warm both model caches once so neither side pays first-load costs inside its timing
        ckpt = get_model(f"ckpt/{path}", device=args.device)
        run(deployment(n=2), ckpt, logs, max_tokens=4)
        wall, ckpt_out, tokens = run(task(), ckpt, logs, max_tokens=args.max_tokens, max_connections=args.samples)
        rows.append(("ckpt/", args.samples, wall, tokens))
        best = None
        for conns in [int(c) for c in args.hf_connections.split(",")]:
            hf = get_model(f"hf/{path}", device=args.device, do_sample=False, memoize=False)
            run(deployment(n=2), hf, logs, max_tokens=4, max_connections=conns)
            wall_hf, hf_out, tokens_hf = run(task(), hf, logs, max_tokens=args.max_tokens, max_connections=conns)
            rows.append(("hf/", conns, wall_hf, tokens_hf))
            if best is None or wall_hf < best[0]:
                best = (wall_hf, conns, hf_out)
            del hf

    print(f"{'provider':<9}{'batch':>6}{'wall s':>9}{'new tok':>9}{'tok/s':>8}")
    for name, batch, wall, tokens in rows:
        print(f"{name:<9}{batch:>6}{wall:>9.1f}{tokens:>9}{tokens / wall:>8.1f}")
    wall_hf, conns, hf_out = best
    same = sum(a.strip() == b.strip() for a, b in zip(ckpt_out, hf_out)) / len(ckpt_out)
    print(f"ratio hf/ (best, batch {conns}) wall / ckpt/ wall: {wall_hf / rows[0][2]:.2f}x  (target >= 2x)")
    print(f"greedy outputs identical between ckpt/ and hf/: {same:.0%} of {len(ckpt_out)} samples")


if __name__ == "__main__":
    main()
