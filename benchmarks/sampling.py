"""Benchmark: drawing sampled tokens for a batch, the engine's batched `Sampler` vs the per-row reference.

    python benchmarks/sampling.py --device cpu
    python benchmarks/sampling.py --device cuda --rows 32 128 512

The reference is how the engine sampled before the batched sampler (and how a per-request-seed sampler is
usually written): for each sampled row, softmax, the top-p cut and `torch.multinomial` with the row's own
generator. Both draw from the same distribution with per-row generators (batch-invariant); the figures are
the time per decode step for a batch of SmolLM2-sized logits (vocabulary 49,152; the median of
--repeats runs), and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from models.engine import Request
from models.fastdecode.sampler import Sampler

VOCAB = 49_152


def reference_step(logits: torch.Tensor, requests, generators) -> torch.Tensor:
    tokens = logits.argmax(dim=-1)
    for row, (r, g) in enumerate(zip(requests, generators)):
        probs = torch.softmax(logits[row] / r.temperature, dim=-1)
        if r.top_p < 1.0:
            sorted_p, order = probs.sort(descending=True)
            sorted_p.masked_fill_(sorted_p.cumsum(-1) - sorted_p > r.top_p, 0.0)
            probs = torch.zeros_like(probs).scatter(0, order, sorted_p)
        tokens[row] = torch.multinomial(probs, 1, generator=g)[0]
    return tokens


def generators(reqs, device: torch.device) -> list[torch.Generator]:
    return [torch.Generator(device=device).manual_seed(r.seed) for r in reqs]


def reference(logits: torch.Tensor, reqs) -> None:
    gens = generators(reqs, logits.device)
    for t in range(logits.shape[0]):
        reference_step(logits[t], reqs, gens)


def batched(logits: torch.Tensor, reqs) -> None:
    """The sampler's set-up (each row's uniforms for all steps) is part of the time."""
    gens = dict(zip(map(id, reqs), generators(reqs, logits.device)))
    sampler = Sampler.for_requests(reqs, lambda r: gens[id(r)], logits.device, steps=logits.shape[0])
    for t in range(logits.shape[0]):
        sampler(logits[t])


def timed(run, logits: torch.Tensor, reqs, repeats: int) -> float:
    """Median seconds per step of `run(logits, reqs)` over all of `logits`' steps, after one warm-up run."""
    run(logits, reqs)
    times = []
    for _ in range(repeats):
        if logits.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        run(logits, reqs)
        if logits.is_cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) / logits.shape[0])
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method (the median is printed)")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device}; vocabulary {VOCAB}; temperature 1.0, top_p {args.top_p}; {args.steps} steps; "
          f"median of {args.repeats} runs\n")
    print("| rows | per-row reference ms/step | batched Sampler ms/step | ratio |")
    print("|---|---|---|---|")
    for rows in args.rows:
        logits = torch.randn(args.steps, rows, VOCAB, device=device) * 3
        reqs = [Request([1], args.steps, temperature=1.0, top_p=args.top_p, seed=i) for i in range(rows)]

        ref = timed(reference, logits, reqs, args.repeats)
        new = timed(batched, logits, reqs, args.repeats)
        print(f"| {rows} | {ref * 1e3:.2f} | {new * 1e3:.2f} | {ref / new:.1f}x |")


if __name__ == "__main__":
    main()
