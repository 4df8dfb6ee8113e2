"""Benchmark: greedy decoding throughput of the fast engine vs the hf loop vs plain `model.generate`.

    python benchmarks/generation.py --device cuda --out results/generation.json     # the full sweep
    python benchmarks/generation.py --device cpu --quick                            # a smoke run

The embedded SmolLM2-135M decodes N chat prompts from the prompt pool, framed as the `trigger` scenario's
deployment side, in batches of each --batch size, for each --new-tokens budget, greedily with:

* exact : `Engine(backend="fast", exact=True)` (models.fastdecode.decoder's exact layout: attention over exactly
          generate's columns, piecewise CUDA graphs; greedy outputs meant to be identical to generate's)
* static: `Engine(backend="fast", exact=False, fused=False)` (static KV cache, CUDA graphs per decode step)
* fused : the static layout with its elementwise chains fused (`fused=True`, models.fastdecode.fusedops; CUDA only;
          the engine's default where it runs)
* hf    : `Engine(backend="hf")` (the model's forward + DynamicCache, finished rows pruned)
* generate : `model.generate(do_sample=False)` on the same left-padded batches, same EOS ids.

Tokens count generated tokens up to EOS (excluded) or the budget. The slow methods can take hours at
batch 1, so each method decodes batches in order until --budget-s seconds have passed (at least one
batch); all methods then run the same batches (those `generate` finished). Graph capture happens in a
warm-up before timing and is reported separately. `same` is the share of samples whose greedy token ids
equal `generate`'s; `peak MiB` is torch.cuda.max_memory_allocated during the method's timed batches.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import random
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# the repository's packages before this folder's scripts (benchmarks/training.py would shadow `training`)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def chat_prompts(tokenizer, n: int, seed: int = 0) -> list[list[int]]:
    from tasks.prompts import pool
    from tasks.scenarios import frame, get_scenario

    scenario = get_scenario("trigger")
    chosen = sorted(pool(), key=lambda p: p.id)
    random.Random(seed).shuffle(chosen)
    if n > len(chosen):
        raise SystemExit(f"--prompts {n}: the pool has {len(chosen)} prompts")
    out = []
    for p in chosen[:n]:
        chat = frame(scenario, "deployment", p.text, p.id, p.split)
        ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
        out.append(list(ids["input_ids"] if hasattr(ids, "keys") else ids))
    return out


def cut(row: list[int], eos: set[int], limit: int) -> list[int]:
    row = row[:limit]
    for k, tok in enumerate(row):
        if tok in eos:
            return row[:k]
    return row


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_generate(model, tokenizer, batch: list[list[int]], *, new_tokens: int, eos: set[int]) -> list[list[int]]:
    import torch

    width = max(len(p) for p in batch)
    ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, p in enumerate(batch):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    dev = next(model.parameters()).device
    with torch.inference_mode():
        out = model.generate(input_ids=ids.to(dev), attention_mask=mask.to(dev), max_new_tokens=new_tokens,
                             min_new_tokens=0, do_sample=False, eos_token_id=sorted(eos),
                             pad_token_id=tokenizer.pad_token_id, temperature=None, top_p=None, top_k=None)
    return [cut(row, eos, new_tokens) for row in out[:, width:].tolist()]


def run_engine(engine, batch: list[list[int]], *, new_tokens: int) -> list[list[int]]:
    from models.engine import Request

    return [r.token_ids for r in engine.generate([Request(p, new_tokens) for p in batch])]


def timed(fn, batches, device: str, budget_s: float, limit: int | None = None):
    """Run fn on batches in order until the budget is spent (or `limit` batches); outputs and seconds."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    outputs: list[list[int]] = []
    seconds = 0.0
    for k, batch in enumerate(batches):
        if (limit is not None and k >= limit) or (k > 0 and seconds >= budget_s):
            break
        sync(device)
        start = time.perf_counter()
        outputs.extend(fn(batch))
        sync(device)
        seconds += time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return outputs, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16 (default: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 128, 512])
    parser.add_argument("--budget-s", type=float, default=60.0, help="seconds per method and setting (slow ones)")
    parser.add_argument("--methods", nargs="+", default=["exact", "static", "generate"],
                        choices=["exact", "static", "fused", "hf", "generate"])
    parser.add_argument("--exact-kv", choices=["copy", "cache"], default="copy",
                        help="exact layout's K/V for attention: contiguous copies (as transformers) or cache views")
    parser.add_argument("--decode-gqa", choices=["group", "repeat"], default=None,
                        help="fast engine's decode attention (default: group with CUDA graphs, repeat without)")
    parser.add_argument("--no-graphs", action="store_true", help="fast engine without CUDA graphs (eager)")
    parser.add_argument("--span", type=int, default=None,
                        help="static/fused: attention captured per this many columns (default 64; a value >= the "
                             "cache length: one graph attending over the whole cache)")
    parser.add_argument("--sdpa", default=None,
                        help="SDPA backends for every method, generate included (e.g. flash+efficient+math)")
    parser.add_argument("--engine-sdpa", default=None,
                        help="SDPA backends of the fast engines (FastDecoder's sdpa, e.g. efficient; default: PyTorch's)")
    parser.add_argument("--no-sort", action="store_true", help="keep pool order (default: sort by length, as ckpt/)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (on a busy machine 1 avoids OpenMP spin-waiting)")
    parser.add_argument("--quick", action="store_true", help="16 prompts, batch 8 16, 16 new tokens")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    args.engine_sdpa = args.engine_sdpa or args.sdpa
    from models.fastdecode.attention import sdpa_context

    with sdpa_context(args.sdpa):  # every method, generate included, under the same backends (for the whole run)
        run(args)


def run(args) -> None:
    if args.quick:
        args.prompts, args.batch, args.new_tokens = 16, [8, 16], [16]

    import torch
    import transformers

    from models.engine import Engine
    from models.fastdecode.layout import bucket
    from models.registry import default_device, load

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or default_device()
    model, tokenizer, _ = load("smollm2-135m", device=device, dtype=args.dtype)
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    prompts = chat_prompts(tokenizer, args.prompts)
    if not args.no_sort:
        prompts.sort(key=len)
    options = (dict(decode_gqa=args.decode_gqa, sdpa=args.engine_sdpa) | (dict(graphs=False) if args.no_graphs else {})
               | (dict(span=args.span) if args.span else {}))
    engines = {}
    if "exact" in args.methods:
        engines["exact"] = Engine(model, tokenizer, backend="fast", exact=True, exact_kv=args.exact_kv,
                                  sdpa=args.engine_sdpa, **(dict(graphs=False) if args.no_graphs else {}))
    if "static" in args.methods:
        engines["static"] = Engine(model, tokenizer, backend="fast", exact=False, fused=False, **options)
    if "fused" in args.methods:
        engines["fused"] = Engine(model, tokenizer, backend="fast", exact=False, fused=True, **options)
    hf = Engine(model, tokenizer, backend="hf")
    eos = set(hf.eos_ids)
    where = torch.cuda.get_device_name(device) if device.startswith("cuda") else (platform.processor() or platform.machine())
    print(f"device: {device} ({where}; {torch.get_num_threads()} CPU threads)  dtype: {dtype}  torch {torch.__version__}"
          f"  transformers {transformers.__version__}")
    print(f"prompts: {len(prompts)} (tokens {min(map(len, prompts))}-{max(map(len, prompts))})  greedy  "
          f"budget {args.budget_s:.0f}s per method and setting")
    for name, engine in engines.items():
        f = engine.fast
        print(f"{name} engine: graphs={f.graphs} exact={f.exact} fused={f.fused} span={f.span} exact_kv={f.exact_kv}"
              f" decode_gqa={f.decode_gqa}"
              f" len_multiple={f.len_multiple} sdpa={f.sdpa}")
    b = torch.backends.cuda
    enabled = [name for name, on in (("flash", b.flash_sdp_enabled()), ("efficient", b.mem_efficient_sdp_enabled()),
                                     ("math", b.math_sdp_enabled()), ("cudnn", b.cudnn_sdp_enabled())) if on]
    print(f"generate's SDPA backends (enabled now): {'+'.join(enabled)}")

    # first-use costs (CUDA context, cuBLAS, kernels) outside every timing
    warm = prompts[:2]
    run_generate(model, tokenizer, warm, new_tokens=4, eos=eos)
    run_engine(hf, warm, new_tokens=4)
    for engine in engines.values():
        run_engine(engine, warm, new_tokens=4)

    rows = []
    header = (f"{'new':>4} {'batch':>5} {'method':<9}{'samples':>8}{'tokens':>9}{'sec':>9}{'tok/s':>10}"
              f"{'x gen':>8}{'peak MiB':>10}{'same':>7}{'capture s':>10}")
    print(header)
    for new_tokens in args.new_tokens:
        for size in args.batch:
            batches = [prompts[i:i + size] for i in range(0, len(prompts), size)]
            result: dict[str, dict] = {}
            ref = None
            limit = None
            if "generate" in args.methods:
                fn = functools.partial(run_generate, model, tokenizer, new_tokens=new_tokens, eos=eos)
                out, sec, peak = timed(fn, batches, device, args.budget_s)
                limit = -(-len(out) // size)
                ref = out
                result["generate"] = dict(outputs=out, seconds=sec, peak=peak, capture=None)
            if "hf" in args.methods:
                fn = functools.partial(run_engine, hf, new_tokens=new_tokens)
                out, sec, peak = timed(fn, batches, device, args.budget_s, limit)
                result["hf"] = dict(outputs=out, seconds=sec, peak=peak, capture=None)
            for name, engine in engines.items():
                for other in engines.values():  # only this engine's caches count towards its peak memory
                    other.fast.clear()
                sync(device)
                capture = 0.0
                use = batches if limit is None else batches[:limit]
                for b in use:  # allocate + capture every (rows, cache length) these batches need
                    padded = len(set(map(len, b))) > 1
                    capture += engine.fast.warmup(len(b), max(map(len, b)) + new_tokens - 1, padded=padded)
                fn = functools.partial(run_engine, engine, new_tokens=new_tokens)
                out, sec, peak = timed(fn, use, device, float("inf"))
                result[name] = dict(outputs=out, seconds=sec, peak=peak, capture=capture)
            base = result.get("generate")
            for method in ("exact", "static", "fused", "hf", "generate"):
                if method not in result:
                    continue
                r = result[method]
                tokens = sum(len(o) for o in r["outputs"])
                tps = tokens / r["seconds"] if r["seconds"] > 0 else float("nan")
                ratio = same = None
                if base is not None:
                    base_tps = sum(len(o) for o in base["outputs"]) / base["seconds"]
                    ratio = tps / base_tps
                    m = min(len(ref), len(r["outputs"]))
                    same = sum(a == b for a, b in zip(ref[:m], r["outputs"][:m])) / m
                row = dict(new_tokens=new_tokens, batch=size, bucket=bucket(size), method=method,
                           samples=len(r["outputs"]), tokens=tokens, seconds=r["seconds"], tokens_per_s=tps,
                           ratio_vs_generate=ratio, peak_mib=r["peak"], same_as_generate=same,
                           capture_s=r["capture"])
                rows.append(row)
                fmt = lambda v, spec: format(v, spec) if v is not None else "-"  # noqa: E731
                print(f"{new_tokens:>4} {size:>5} {method:<9}{row['samples']:>8}{tokens:>9}{r['seconds']:>9.2f}"
                      f"{tps:>10.1f}{fmt(ratio, '.2f'):>8}{fmt(r['peak'], '.0f'):>10}{fmt(same, '.1%'):>7}"
                      f"{fmt(r['capture'], '.2f'):>10}", flush=True)
    if args.out:
        meta = dict(device=device, device_name=where, dtype=dtype, torch=torch.__version__,
                    transformers=transformers.__version__, prompts=len(prompts), budget_s=args.budget_s,
                    generate_sdpa=args.sdpa,
                    engines={name: dict(graphs=e.fast.graphs, exact=e.fast.exact, fused=e.fast.fused, span=e.fast.span,
                                        exact_kv=e.fast.exact_kv, sdpa=e.fast.sdpa,
                                        decode_gqa=e.fast.decode_gqa) for name, e in engines.items()})
        from training.atomic import write_json

        write_json(args.out, dict(meta=meta, rows=rows))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
