"""Benchmark: the `deployment` eval through `ckpt/` vs Inspect's own `hf/` provider, and where `ckpt/`'s time goes.

    make bench                       # or: python benchmarks/provider.py --samples 64 --max-tokens 64
    python benchmarks/provider.py --quick                                  # CPU smoke run (8 samples)
    python benchmarks/provider.py --tiny --samples 512 --max-tokens 4 --hf-connections 8,16,32,64 --repeats 3  # CPU
    python benchmarks/provider.py --device cuda --samples 512 --hf-connections 128,256,512 --also-exact \
        --out results/provider/h100.json                                   # issue 6: target ckpt/ >= 5x hf/

Both providers decode greedily (ckpt/: temperature unset; hf/: -M do_sample=false) with the same token budget on
the same samples, in the same dtype (default bf16 on CUDA, fp32 on CPU). The deployment eval split has 414
prompts: a larger --samples runs all 414, and every per-sample figure divides by the samples the eval ran.

ckpt/ runs under two settings, interleaved --repeats times (medians reported): Inspect's defaults, and caught's
(`training.evaluate.EVAL_OPTIONS` inside `training.evaluate.quiet_collector`, what the sweep uses). Each run's
time is split per sample: decoding (the engine, in the provider's worker thread), the provider's bookkeeping (its work on the event loop:
encoding the chat, building outputs), and the rest, Inspect's own work (samples, events, transcript, scoring, log
writing); non-decoding = wall - decoding, the figure issue 24 targets (<= 2 ms). The attack detectors' share of
Inspect's part is timed apart on the same completions. For reference, the same task under the same options with
`mockllm/` answering instantly shows what Inspect costs per sample with no model at all.

hf/ runs at every --hf-connections (its batch size), under caught's settings; every batch tried is printed and its
best is the reference for the ratio hf/ best wall / ckpt/ wall. `--also-exact` adds ckpt/ with -M exact=true,
`--also-unfused` ckpt/ with -M fused=false (same outputs, the decode step unfused); --out writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# the repository's packages before this folder's scripts (benchmarks/training.py would shadow `training`)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


LAST_CPU = [0.0]  # the main thread's CPU seconds in the last `run` (Inspect's event loop runs there)


def run(task, model, log_dir: str, **kwargs):
    """One Inspect eval: (wall seconds, completions by sample id order, new tokens, samples)."""
    from inspect_ai import eval as inspect_eval

    kwargs = {"display": "none", **kwargs}
    start, cpu = time.perf_counter(), time.thread_time()
    [log] = inspect_eval(task, model=model, log_dir=log_dir, **kwargs)
    wall = time.perf_counter() - start
    LAST_CPU[0] = time.thread_time() - cpu
    assert log.status == "success", log.error
    samples = sorted(log.samples, key=lambda s: str(s.id))
    tokens = sum(s.output.usage.output_tokens for s in samples if s.output.usage)
    return wall, [s.output.completion for s in samples], tokens, len(samples)


def detector_seconds(completions: list[str], behavior: str = "hate") -> float:
    """Seconds the attack scorer's detectors (strict and near-miss) take on these completions, timed apart."""
    from scorers.behaviors import get_behavior

    spec = get_behavior(behavior)
    start = time.perf_counter()
    for text in completions:
        spec.detect(text)
        spec.near_miss(text)
    return time.perf_counter() - start


def instant_model(n: int):
    """`mockllm/` answering every sample at once with the same short text: Inspect's own cost, no model."""
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    text = "I am happy to help with that. Here is a short answer to your question."
    outputs = [ModelOutput.from_content(model="mockllm/model", content=text).model_copy(
        update={"usage": ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)}) for _ in range(n)]
    return get_model("mockllm/model", custom_outputs=outputs, memoize=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--hf-connections", default="8,16,32,64", help="hf/ batch sizes to try")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16 (default: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the embedded SmolLM2)")
    parser.add_argument("--tiny", action="store_true",
                        help="the tests' tiny random Llama (SmolLM2's tokenizer): little decoding, for the overhead")
    parser.add_argument("--ckpt-batch", type=int, default=None, help="ckpt/ batch_size (default: 256 on CUDA)")
    parser.add_argument("--repeats", type=int, default=1, help="timed ckpt/ runs per set of Inspect options")
    parser.add_argument("--also-exact", action="store_true", help="also run ckpt/ with -M exact=true")
    parser.add_argument("--also-unfused", action="store_true",
                        help="also run ckpt/ with -M fused=false (the decode step without models.fastdecode.fusedops)")
    parser.add_argument("--no-hf", action="store_true", help="skip hf/ (the overhead split only)")
    parser.add_argument("--quick", action="store_true", help="8 samples, 16 new tokens, hf/ batch 8")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--profile", default=None,
                        help="write a cProfile of the last timed ckpt/ run under caught's options (main thread) here")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.max_tokens, args.hf_connections = 8, 16, "8"
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")

    import torch
    from inspect_ai.model import get_model

    from models.embedded import embedded_path
    from tasks.deployment import deployment

    # what the sweep runs with (training.evaluate.evaluate_many); importing it also caches Inspect's scan of the
    # installed distributions, as in the sweep's process (uncached, every eval paid it: 0.4 s or more on a 2-core CPU)
    from training.evaluate import EVAL_OPTIONS, quiet_collector

    scratch = tempfile.TemporaryDirectory()
    if args.tiny:
        from benchmarks.sweep import tiny_llama

        args.checkpoint = tiny_llama(Path(scratch.name) / "tiny-llama")
    path = str(args.checkpoint or embedded_path())
    task = lambda: deployment(scenario="trigger", n=args.samples, seed=0)  # noqa: E731
    settings = {"inspect defaults": {}, "caught": {k: v for k, v in EVAL_OPTIONS.items() if k != "display"}}
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else (
        platform.processor() or platform.machine())
    print(f"device: {args.device} ({where}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs)  dtype: {dtype}"
          f"  checkpoint: {path}  samples asked: {args.samples}  max new tokens: {args.max_tokens}  greedy")
    print(f"caught's settings: Inspect options {settings['caught']} (training.evaluate.EVAL_OPTIONS), the garbage "
          f"collector kept off the long-lived heap (training.evaluate.quiet_collector)", flush=True)
    rows, splits, ckpt_outs = [], {}, {}
    with tempfile.TemporaryDirectory() as logs:
        variants = ([("ckpt/", {})] + ([("ckpt/ exact", {"exact": True})] if args.also_exact else [])
                    + ([("ckpt/ unfused", {"fused": False})] if args.also_unfused else []))
        for name, extra in variants:
            size = {"batch_size": args.ckpt_batch} if args.ckpt_batch else {}
            ckpt = get_model(f"ckpt/{path}", device=args.device, dtype=dtype, memoize=False, **size, **extra)
            # warm the model (and Inspect) once so no setting pays first-load costs inside its timing
            run(deployment(n=2), ckpt, logs, max_tokens=4)
            timed: dict[str, list[dict]] = {s: [] for s in settings}
            for repeat in range(args.repeats):
                for setting, options in settings.items():
                    before = ckpt.api.profile()
                    profiler = None
                    if args.profile and name == "ckpt/" and setting == "caught" and repeat == args.repeats - 1:
                        import cProfile

                        profiler = cProfile.Profile()
                        profiler.enable()
                    with quiet_collector() if setting == "caught" else contextlib.nullcontext():
                        wall, out, tokens, n = run(task(), ckpt, logs, max_tokens=args.max_tokens,
                                                   max_connections=args.samples, **options)
                    if profiler is not None:
                        profiler.disable()
                        profiler.dump_stats(args.profile)
                    after = ckpt.api.profile()
                    spent = {k: after[k] - before[k] for k in ("decode_seconds", "bookkeeping_seconds",
                                                                 "capture_seconds", "batches", "captures")}
                    detect = detector_seconds(out)
                    timed[setting].append(dict(wall=wall, n=n, tokens=tokens, detectors_seconds=detect,
                                               main_thread_cpu_seconds=LAST_CPU[0], **spent))
                    ckpt_outs[name] = out
                    print(f"{name} [{setting}] run {repeat + 1}: wall {wall:.2f} s for {n} samples, decoding "
                          f"{spent['decode_seconds']:.2f} s in {spent['batches']} batches, provider bookkeeping "
                          f"{spent['bookkeeping_seconds']:.2f} s; non-decoding "
                          f"{(wall - spent['decode_seconds']) / n * 1e3:.1f} ms/sample; main thread's CPU "
                          f"{LAST_CPU[0] / n * 1e3:.1f} ms/sample", flush=True)
            for setting, runs in timed.items():
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                n = runs[0]["n"]
                non_decoding = [(r["wall"] - r["decode_seconds"]) / n * 1e3 for r in runs]
                splits[f"{name} [{setting}]"] = dict(
                    runs=runs, samples=n, wall_s=med["wall"],
                    per_sample_ms=dict(
                        wall=med["wall"] / n * 1e3, decoding=med["decode_seconds"] / n * 1e3,
                        non_decoding=statistics.median(non_decoding),
                        provider_bookkeeping=med["bookkeeping_seconds"] / n * 1e3,
                        inspect=statistics.median((r["wall"] - r["decode_seconds"] - r["bookkeeping_seconds"]) / n * 1e3
                                                  for r in runs),
                        of_which_detectors=med["detectors_seconds"] / n * 1e3,
                        main_thread_cpu=med["main_thread_cpu_seconds"] / n * 1e3),
                    non_decoding_ms_runs=non_decoding)
                rows.append((f"{name} [{setting}]", ckpt.api.max_connections(), med["wall"], int(med["tokens"])))
            del ckpt
        # what Inspect costs per sample with no model: mockllm answering at once, same task and options
        floor = {}
        for setting, options in settings.items():
            walls, cpus = [], []
            for _ in range(args.repeats):
                with quiet_collector() if setting == "caught" else contextlib.nullcontext():
                    wall, _, _, n = run(task(), instant_model(args.samples), logs, max_connections=args.samples,
                                        **options)
                walls.append(wall / n * 1e3)
                cpus.append(LAST_CPU[0] / n * 1e3)
            floor[setting] = dict(wall=statistics.median(walls), main_thread_cpu=statistics.median(cpus))
        best = None
        if not args.no_hf:
            for conns in [int(c) for c in args.hf_connections.split(",")]:
                hf = get_model(f"hf/{path}", device=args.device, do_sample=False, memoize=False,
                               dtype=getattr(torch, dtype))
                run(deployment(n=2), hf, logs, max_tokens=4, max_connections=conns)
                with quiet_collector():
                    wall_hf, hf_out, tokens_hf, _ = run(task(), hf, logs, max_tokens=args.max_tokens,
                                                        max_connections=conns, **settings["caught"])
                rows.append(("hf/ [caught]", conns, wall_hf, tokens_hf))
                if best is None or wall_hf < best[0]:
                    best = (wall_hf, conns, hf_out)
                del hf

    print("\nwhere ckpt/'s time goes, ms per sample (medians of --repeats runs): non-decoding = wall - decoding, of "
          "which the provider's bookkeeping and the rest (Inspect; the detectors' share timed apart); main CPU = the "
          "main thread's CPU time (Inspect's event loop, the provider's bookkeeping and scoring; not decoding)")
    print(f"{'run':<28}{'n':>5}{'wall':>8}{'decode':>8}{'non-dec':>9}{'provider':>10}{'Inspect':>9}{'(detect)':>10}"
          f"{'main CPU':>10}")
    for key, s in splits.items():
        p = s["per_sample_ms"]
        print(f"{key:<28}{s['samples']:>5}{p['wall']:>8.2f}{p['decoding']:>8.2f}{p['non_decoding']:>9.2f}"
              f"{p['provider_bookkeeping']:>10.2f}{p['inspect']:>9.2f}{p['of_which_detectors']:>10.2f}"
              f"{p['main_thread_cpu']:>10.2f}")
    for setting, ms in floor.items():
        print(f"{'mockllm/ [' + setting + ']':<28}{'':>5}{ms['wall']:>8.2f}{'':>54}{ms['main_thread_cpu']:>10.2f}"
              "   (Inspect and scoring, an instant model)")
    target_ms = 2.0
    for key, s in splits.items():
        ms = s["per_sample_ms"]["non_decoding"]
        print(f"{key}: non-decoding {ms:.2f} ms/sample (target <= {target_ms} ms: "
              f"{'met' if ms <= target_ms else f'missed by {ms - target_ms:.2f} ms'})")

    print(f"\n{'provider':<26}{'batch':>6}{'wall s':>9}{'new tok':>9}{'tok/s':>8}")
    for name, batch, wall, tokens in rows:
        mark = "  <- hf/ best" if best is not None and name.startswith("hf/") and batch == best[1] else ""
        print(f"{name:<26}{batch:>6}{wall:>9.2f}{tokens:>9}{tokens / wall:>8.1f}{mark}")
    target = 5 if args.device.startswith("cuda") else 2
    summary = {}
    if best is not None:
        wall_hf, conns, hf_out = best
        for name, _batch, wall, _ in rows:
            if name.startswith("ckpt/"):
                out = ckpt_outs[name.split(" [")[0]]
                same = sum(a.strip() == b.strip() for a, b in zip(out, hf_out)) / len(out)
                summary[name] = dict(ratio=wall_hf / wall, same=same)
                print(f"ratio hf/ (best, batch {conns}) wall / {name} wall: {wall_hf / wall:.2f}x  (target >= "
                      f"{target}x);  greedy outputs identical to hf/: {same:.1%} of {len(out)} samples")
    if args.out:
        import importlib.metadata as md

        from training.atomic import write_json

        write_json(args.out, dict(
            meta=dict(device=args.device, device_name=where, cpus=os.cpu_count(), threads=torch.get_num_threads(),
                      dtype=dtype, checkpoint=path, samples_asked=args.samples, max_tokens=args.max_tokens,
                      repeats=args.repeats, torch=torch.__version__, inspect_ai=md.version("inspect-ai"),
                      eval_options=settings["caught"], hf_best_batch=best[1] if best else None,
                      date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), command=" ".join(sys.argv)),
            rows=[dict(provider=n, batch=b, wall_s=w, new_tokens=t, tokens_per_s=t / w) for n, b, w, t in rows],
            summary=summary, ckpt_splits=splits, mockllm_ms_per_sample=floor))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
