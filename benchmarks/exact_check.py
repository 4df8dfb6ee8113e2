"""GPU self-check of the fast engine's exact layout: identical to `model.generate`, and how fast.

    python benchmarks/exact_check.py --device cuda --out $OUT/check.json      # ~1-2 min on an H100
    python benchmarks/exact_check.py --device cpu --prompts 4 --new-tokens 8   # a CPU smoke run

SmolLM2-135M in bf16 decodes --prompts chat prompts (one batch, greedy, no EOS so every row runs all
--new-tokens) with `model.generate`, then with the exact layout (exact_kv copy and cache) and the static
layout. Checks, per engine: the share of rows whose token ids equal generate's, whether the first step's
logits are bit-identical to generate's (and, on CUDA, to the same layout run eagerly), tokens/s and
the ratio to generate. Rows that differ are traced: the step of their first different token, and the step
(and cache column) where the emitted token's log-probability first stops being bit-equal to generate's.
`--sdpa math|efficient|cudnn` forces one attention backend on generate and the engines alike; `--engine-sdpa`
on the engines only; `--probe-generate` tells which forced backend reproduces generate's own choice; `--kernels`
counts the attention kernels each one launches (CUDA). Exits 1
unless the exact layout (copy) is identical on >= 99% of the rows.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--sdpa", default=None,
                        help="SDPA backends for generate and the engines alike, e.g. efficient or flash+efficient+math "
                             "(default: PyTorch chooses for generate; the engines keep their own default)")
    parser.add_argument("--engine-sdpa", default=None,
                        help="SDPA backends for the engines only (FastDecoder's sdpa, e.g. efficient); generate keeps "
                             "PyTorch's choice")
    parser.add_argument("--probe-generate", action="store_true",
                        help="also run generate under each forced backend and compare it with generate's own choice")
    parser.add_argument("--eos", action="store_true",
                        help="stop rows at the chat template's EOS ids (generate and engines alike; default: no EOS)")
    parser.add_argument("--kernels", action="store_true",
                        help="CUDA: count the attention kernels (by name) that generate and each engine launch")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    from models.fastdecode.attention import sdpa_context

    with sdpa_context(args.sdpa):
        check(args)


def check(args) -> None:
    import torch
    from generation import chat_prompts, cut

    from models.engine import Engine, Request
    from models.fastdecode.attention import sdpa_context
    from models.fastdecode.decoder import FastDecoder
    from models.registry import load

    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    model, tokenizer, _ = load("smollm2-135m", device=args.device, dtype=args.dtype)
    prompts = sorted(chat_prompts(tokenizer, args.prompts), key=len)
    n, new = len(prompts), args.new_tokens
    width = max(map(len, prompts))
    ids = torch.full((n, width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    ids, mask = ids.to(args.device), mask.to(args.device)
    # --eos: stop rows at the chat template's EOS ids, as ckpt/ and generation.py do (default: no EOS)
    eos = sorted(Engine(model, tokenizer, backend="hf").eos_ids) if args.eos else None

    def generate():
        with torch.inference_mode():
            return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=0,
                                  do_sample=False, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
                                  temperature=None, top_p=None, top_k=None, output_logits=True,
                                  return_dict_in_generate=True)

    warm = [cut(r, set(eos or ()), new) for r in generate().sequences[:, width:].tolist()]  # warm-up, and generate against itself
    sync()
    start = time.perf_counter()
    out = generate()
    sync()
    gen_s = time.perf_counter() - start
    ref = [cut(r, set(eos or ()), new) for r in out.sequences[:, width:].tolist()]
    self_same = sum(a == b for a, b in zip(warm, ref)) / n
    print(f"generate run twice on the same batch: identical on {self_same:.1%} of rows", flush=True)
    ref_first = out.logits[0].float()
    # generate's log-probability of each emitted token (fp32 log_softmax of its logits), for the numeric trace
    ref_lp = torch.stack([torch.log_softmax(step.float(), -1).gather(1, out.sequences[:, width + t, None])[:, 0]
                          for t, step in enumerate(out.logits)], 1).tolist()
    gen_tps = n * new / gen_s
    print(f"device {args.device} ({torch.cuda.get_device_name() if cuda else 'cpu'})  {args.dtype}  batch {n}"
          f"  new tokens {new}  prompt tokens {min(map(len, prompts))}-{width}")
    print(f"generate: {gen_s:.2f}s  {gen_tps:.0f} tok/s")
    rows = {"generate": dict(seconds=gen_s, tokens_per_s=gen_tps, same_as_itself=self_same)}
    if args.kernels and cuda:
        rows["generate"]["attention_kernels"] = attention_kernels(generate)
    if args.probe_generate:  # which backend does generate's own choice match?
        for name in ("flash", "efficient", "math", "cudnn"):
            try:
                with sdpa_context(name):
                    forced = generate().sequences[:, width:].tolist()
                share = sum(a == b for a, b in zip(forced, ref)) / n
                rows[f"generate-{name}"] = dict(same_as_generate=share)
                print(f"generate with only {name}: identical to generate's own choice on {share:.1%} of rows", flush=True)
            except Exception as ex:  # noqa: BLE001 - a backend that cannot run these shapes
                rows[f"generate-{name}"] = dict(error=f"{type(ex).__name__}: {ex}")
                print(f"generate with only {name}: FAILED: {type(ex).__name__}: {str(ex)[:200]}", flush=True)
    variants = {"exact-copy": dict(exact=True, exact_kv="copy"), "exact-cache": dict(exact=True, exact_kv="cache"),
                "static": dict(exact=False)}
    ok = False
    for name, opts in variants.items():
        try:
            engine = Engine(model, tokenizer, backend="fast", sdpa=args.engine_sdpa or args.sdpa, **opts)
            if not args.eos:
                engine.eos_ids = set()  # as generate with eos_token_id=None: every row decodes all tokens
            reqs = [Request(p, new, logprobs=True) for p in prompts]
            start = time.perf_counter()
            engine.generate(reqs)  # allocates, captures and runs once
            sync()
            first_s = time.perf_counter() - start
            start = time.perf_counter()
            results = engine.generate(reqs)
            got = [r.token_ids for r in results]
            sync()
            sec = time.perf_counter() - start
            same = sum(a == b for a, b in zip(got, ref)) / n
            # where the differing rows part from generate's: the step of their first different token
            parted = sorted(next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
                            for a, b in zip(got, ref) if a != b)
            # where the numbers first differ (before any token does): the first step whose emitted token's
            # log-probability is not bit-equal to generate's, over each row's steps with the same tokens so far
            numeric = []
            for i, (r, lp_ref) in enumerate(zip(results, ref_lp)):
                same_upto = next((t for t, (x, y) in enumerate(zip(r.token_ids, ref[i])) if x != y), new)
                at = next((t for t in range(min(same_upto + 1, len(r.logprobs), len(lp_ref)))
                           if r.logprobs[t] != lp_ref[t]), None)
                if at is not None:
                    numeric.append((at, len(prompts[i]) + at))
            first = engine.fast.teacher_forced_logits(prompts, torch.zeros((n, 0), dtype=torch.long),
                                                      pad_id=tokenizer.pad_token_id)[:, 0]
            logits_equal = bool(torch.equal(first, ref_first))
            eager_equal = None
            if cuda and opts["exact"]:  # the piece graphs replay exactly what the eager pieces compute
                eager = FastDecoder(model, graphs=False, exact=True, exact_kv=opts["exact_kv"],
                                    sdpa=args.engine_sdpa or args.sdpa)
                k = min(8, min(map(len, ref)))  # with --eos a row may end early
                forced = torch.tensor([r[:k] for r in ref], dtype=torch.long).reshape(n, k)
                a = engine.fast.teacher_forced_logits(prompts, forced, pad_id=tokenizer.pad_token_id)
                b = eager.teacher_forced_logits(prompts, forced, pad_id=tokenizer.pad_token_id)
                eager_equal = bool(torch.equal(a, b))
                del eager
            tps = n * new / sec
            rows[name] = dict(seconds=sec, tokens_per_s=tps, ratio_vs_generate=tps / gen_tps, same_as_generate=same,
                              first_logits_equal=logits_equal, graphs_equal_eager=eager_equal,
                              first_differing_step=parted, first_numeric_difference=numeric,
                              first_call_s=first_s,
                              peak_mib=torch.cuda.max_memory_allocated() / 2**20 if cuda else None)
            print(f"{name:<12} {sec:.3f}s  {tps:.0f} tok/s  {tps / gen_tps:.1f}x generate  identical {same:.1%}"
                  f"  first-step logits bit-equal: {logits_equal}  graphs == eager: {eager_equal}"
                  f"  (first call incl. capture {first_s:.2f}s)", flush=True)
            if parted:
                print(f"{'':<12} {len(parted)} rows differ; first differing step: min {parted[0]}, median "
                      f"{parted[len(parted) // 2]}, max {parted[-1]} (prompt + step = cache column)", flush=True)
            if numeric:
                steps, cols = sorted(t for t, _ in numeric), sorted(c for _, c in numeric)
                print(f"{'':<12} {len(numeric)} rows' log-probabilities first differ from generate's at step min "
                      f"{steps[0]}, median {steps[len(steps) // 2]}; cache column min {cols[0]}, median "
                      f"{cols[len(cols) // 2]}, max {cols[-1]}", flush=True)
            if name == "exact-copy":
                ok = same >= 0.99
            if args.kernels and cuda:
                rows[name]["attention_kernels"] = attention_kernels(functools.partial(engine.generate, reqs))
            engine.fast.clear()
            del engine
        except Exception as ex:  # noqa: BLE001 - report and go on to the next variant
            rows[name] = dict(error=f"{type(ex).__name__}: {ex}")
            print(f"{name:<12} FAILED: {type(ex).__name__}: {ex}", flush=True)
    if args.out:
        from training.atomic import write_json

        write_json(args.out, dict(device=args.device, dtype=args.dtype, prompts=n, new_tokens=new,
                                               rows=rows))
    print("exact layout identical to generate on >= 99% of rows:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


def attention_kernels(fn) -> dict[str, int]:
    """Run fn under torch.profiler and count the CUDA kernels that look like attention (by name), printed."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
    counts: dict[str, int] = {}
    for e in prof.events():
        name = e.name
        low = name.lower()
        if e.device_type.name == "CUDA" and any(w in low for w in ("fmha", "flash", "cudnn", "attention", "sdpa",
                                                                    "softmax", "gemv", "bmm")):
            counts[name[:120]] = counts.get(name[:120], 0) + 1
    for name, c in sorted(counts.items(), key=lambda x: -x[1])[:8]:
        print(f"    {c:>7}  {name}", flush=True)
    return counts


if __name__ == "__main__":
    main()
