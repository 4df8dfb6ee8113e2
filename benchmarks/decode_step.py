"""Benchmark: one captured decode step of the fast engine's static layout, with and without the fused kernels.

    python benchmarks/decode_step.py --device cuda --batch 1 32 128 512 --out results/generation/step.json

For each batch size, the embedded SmolLM2-135M (bf16) prefills that many chat prompts (the prompt pool, as
benchmarks/generation.py, shortest first) into the static layout's cache and captures its decode step twice:
`FastDecoder(fused=False)` (the eager ops, about 40 kernels per layer), `fused=True, parallel=False`
(models.fastdecode.fusedops' kernels, GEMMs one after another) and `fused=True` (q/k/v and gate/up GEMMs concurrently).
Per variant it prints:

* `us/step`: mean wall time of --steps decode steps as `generate` replays them (each step the graph whose
  attention spans the columns written so far, rounded up to 64), timed with CUDA events (the step alone: no
  token choice, no host loop);
* `kernels` and `kernel us`: the kernels one eager run of the middle step launches and their summed GPU time
  (torch.profiler), i.e. what its graph replays; `top`: the three kernels with the most time;
* `prefill ms`: the prompts' prefill (eager, not captured), host to host, the median of five;
* `equal`: whether the fused variant's logits equal the unfused one's bit for bit over --steps teacher-forced
  steps (the same random tokens fed to both).

The ratio is unfused / fused us per step, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# the unfused step; fused with its GEMMs one after another; fused with q/k/v and gate/up GEMMs concurrent
VARIANTS = {"unfused": dict(fused=False), "fused serial": dict(fused=True, parallel=False), "fused": dict(fused=True)}


def profile_step(decoder, st, length: int) -> tuple[int, float, list[tuple[str, float]]]:
    """Kernels, their summed µs, and the top three (name, µs) of one eager run of the static step attending
    over `length` columns."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    decoder._step(st, length)  # warm
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        decoder._step(st, length)
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    by_name: dict[str, float] = {}
    for e in kernels:
        by_name[e.name] = by_name.get(e.name, 0.0) + e.device_time
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:3]
    return len(kernels), sum(e.device_time for e in kernels), top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 128, 512])
    parser.add_argument("--steps", type=int, default=64, help="decode steps replayed (and compared)")
    parser.add_argument("--span", type=int, default=64, help="attention captured per this many columns")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    import torch
    import transformers
    from generation import chat_prompts

    from models.fastdecode.decoder import FastDecoder
    from models.fastdecode.layout import bucket
    from models.registry import load

    if not args.device.startswith("cuda"):
        raise SystemExit(f"--device {args.device}: the fused kernels and CUDA graphs need a CUDA device")
    model, tokenizer, _ = load("smollm2-135m", device=args.device, dtype="bfloat16")
    prompts = sorted(chat_prompts(tokenizer, max(args.batch)), key=len)
    pad = tokenizer.pad_token_id
    name = torch.cuda.get_device_name(args.device)
    print(f"device: {args.device} ({name})  torch {torch.__version__}  transformers {transformers.__version__}"
          f"  SmolLM2-135M bf16  steps {args.steps}  span {args.span}")
    print(f"{'batch':>5} {'variant':<13}{'us/step':>9}{'x':>6}{'prefill ms':>9}{'kernels':>8}{'kernel us':>10}{'equal':>7}  top kernels (us)")
    rows = []
    gen = torch.Generator().manual_seed(0)
    for size in args.batch:
        batch = prompts[:size]
        forced = torch.randint(0, model.config.vocab_size, (size, args.steps), generator=gen)
        result = {}
        for variant in VARIANTS:
            dec = FastDecoder(model, span=args.span, **VARIANTS[variant])
            with dec._on_device(), torch.inference_mode():
                logits = dec.teacher_forced_logits(batch, forced, pad)  # also captures the graphs
                tok = torch.zeros(size, dtype=torch.long, device=args.device)
                times = []
                for _ in range(5):  # the prefill (eager; its state already made): the median of five
                    torch.cuda.synchronize()
                    began = time.perf_counter()
                    st, _ = dec._begin(batch, args.steps + 1, pad)
                    torch.cuda.synchronize()
                    times.append((time.perf_counter() - began) * 1000)
                prefill_ms = sorted(times)[2]
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda.synchronize()
                start.record()
                for _ in range(args.steps):
                    dec._advance(st, tok)
                end.record()
                torch.cuda.synchronize()
                us = start.elapsed_time(end) * 1000 / args.steps
                width = max(map(len, batch))
                middle = min(-(-(width + args.steps // 2 + 1) // dec.span) * dec.span, st.mask.shape[1])
                st, _ = dec._begin(batch, args.steps + 1, pad)
                kernels, kernel_us, top = profile_step(dec, st, middle)
            result[variant] = dict(us=us, prefill_ms=prefill_ms, kernels=kernels, kernel_us=kernel_us, top=top, logits=logits,
                                 columns=(width, width + args.steps - 1, middle, st.mask.shape[1]))
            del dec, st
            torch.cuda.empty_cache()
        for variant, r in result.items():
            equal = None if variant == "unfused" else torch.equal(result["unfused"]["logits"], r["logits"])
            ratio = result["unfused"]["us"] / r["us"]
            tops = ", ".join(f"{n[:40]} {t:.0f}" for n, t in r["top"])
            print(f"{size:>5} {variant:<13}{r['us']:>9.1f}{ratio:>6.2f}{r['prefill_ms']:>9.1f}{r['kernels']:>8}"
                  f"{r['kernel_us']:>10.1f}"
                  f"{'' if equal is None else 'yes' if equal else 'NO':>7}  {tops}", flush=True)
            rows.append(dict(batch=size, bucket=bucket(size), variant=variant, us_per_step=r["us"],
                             prefill_ms=r["prefill_ms"],
                             written_columns=r["columns"][:2], profiled_span=r["columns"][2], cache_columns=r["columns"][3],
                             ratio_vs_unfused=ratio, kernels=r["kernels"], kernel_us=r["kernel_us"],
                             top_kernels=r["top"], logits_equal=equal))
    if args.out:
        from training.atomic import write_json

        write_json(args.out, dict(meta=dict(device=args.device, device_name=name, torch=torch.__version__,
                                                   transformers=transformers.__version__, steps=args.steps,
                                                   span=args.span),
                                         rows=rows))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
