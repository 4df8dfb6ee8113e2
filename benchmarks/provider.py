"""Benchmark: the `deployment` eval through `ckpt/` vs Inspect's own `hf/` provider, and where `ckpt/`'s time goes.

    make bench                       # or: python benchmarks/provider.py --samples 64 --max-tokens 64
    python benchmarks/provider.py --quick                                  # CPU smoke run (8 samples)
    python benchmarks/provider.py --tiny --samples 512 --max-tokens 4 --hf-connections 8,16,32,64 --repeats 3  # CPU
    python benchmarks/provider.py --device cuda --samples 512 --hf-connections 128,256,512 --also-exact \
        --out results/provider/h100.json                                   # issue 6: target ckpt/ >= 5x hf/
    python benchmarks/provider.py --tiny --samples 512 --max-tokens 4 --hf-connections 32,64,128 --repeats 3 \
        --threads 1 --cell --out results/provider/cpu.json                 # CPU, with one sweep cell's evaluation

Both providers decode greedily (ckpt/: temperature unset; hf/: -M do_sample=false) with the same token budget on
the same samples, in the same dtype (default bf16 on CUDA, fp32 on CPU). The deployment eval split has 414
prompts: a larger --samples runs all 414, and every per-sample figure divides by the samples the eval ran.

ckpt/ runs under three settings, interleaved --repeats times (medians reported): Inspect's defaults; caught's
(`training.evaluate.EVAL_OPTIONS` inside `training.evaluate.quiet_collector`) with the log's samples read back from
the file when first touched (Inspect's lazy samples); and the same with the samples kept as they were logged
(`training.evaluate.SAMPLES_FROM_MEMORY`, what evaluate_many and so the sweep do). Each run's
time is split per sample: decoding (the engine, in the provider's worker thread), the provider's bookkeeping (its work on the event loop:
encoding the chat, building outputs), and the rest, Inspect's own work (samples, events, transcript, scoring, log
writing); non-decoding = wall - decoding, the figure issue 24 targets (<= 2 ms), and the same with the time to have
the log's samples in hand added (what a caller that reads them, as the sweep does, pays). The attack detectors' share of
Inspect's part is timed apart on the same completions. For reference, the same task under the same options with
`mockllm/` answering instantly shows what Inspect costs per sample with no model at all.

hf/ runs at every --hf-connections (its batch size), under caught's settings; every batch tried is printed and its
best is the reference for the ratio hf/ best wall / ckpt/ wall. `--also-exact` adds ckpt/ with -M exact=true,
`--also-unfused` ckpt/ with -M fused=false (same outputs, the decode step unfused); --out writes JSON.

`--cell` adds one sweep cell's evaluation phase (`caught.compare.evaluate_checkpoint`, as `caught.sweep` runs it, on
the checkpoint made a train-against checkpoint; sizes from --cell-n) before and after the changes of issue 24 in the
same run (`cell_evaluation`), with its split: model load, decoding and its batches, teacher-forced scores, the rest.
`--threads` sets torch's intra-op threads: on a 2-core CPU, two torch threads decoding beside Inspect's busy event loop
(and other jobs) made decoding ~10x slower than one thread (the benchmark's worker-thread decode of 13 batches: 18.7 s
against 1.6 s, 2026-12-06), which is decoding time, but it also makes the wall-time split noisy.
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
LAST_SAMPLES = [0.0]  # seconds the last `run` took to have its log's samples in hand after the eval returned


def run(task, model, log_dir: str, from_memory: bool = False, **kwargs):
    """One Inspect eval: (wall seconds, completions by sample id order, new tokens, samples). The wall time is the
    eval's; getting its samples afterwards (Inspect reads an .eval log's samples back from the file when they are
    first touched; `from_memory`: training.evaluate's capture of the samples as they were logged) is LAST_SAMPLES."""
    from inspect_ai import eval as inspect_eval

    import training.evaluate as ev

    kwargs = {"display": "none", **kwargs}
    if from_memory:
        ev._register_capture_hook()
    start, cpu = time.perf_counter(), time.thread_time()
    with ev._capture.capturing() if from_memory else contextlib.nullcontext() as captured:
        [log] = inspect_eval(task, model=model, log_dir=log_dir, **kwargs)
    wall = time.perf_counter() - start
    LAST_CPU[0] = time.thread_time() - cpu
    assert log.status == "success", log.error
    start = time.perf_counter()
    if from_memory:
        log = ev._with_captured_samples(log, captured)
        assert type(log.samples) is list, "the captured samples did not add up to the log's"
    samples = sorted(log.samples, key=lambda s: str(s.id))
    LAST_SAMPLES[0] = time.perf_counter() - start
    tokens = sum(s.output.usage.output_tokens for s in samples if s.output.usage)
    return wall, [s.output.completion for s in samples], tokens, len(samples)


LOAD = [(0.0, 0.0, 0.0)]  # the load average when the benchmark started


def _in(path: str, *names: str):
    return lambda file, func: path in file and (not names or func in names)


# Inspect's per-sample work by component (inspect_ai 0.3.285's modules and functions), for StackSampler: a sampled
# stack counts for the first category one of its frames matches, so a category is its work less that of those above
STACK_CATEGORIES = [
    ("event loop idle", _in("selectors.py", "select")),
    ("caught: attack detectors (scorers.hate)", lambda f, fn: "scorers/hate.py" in f or "scorers/behaviors.py" in f),
    ("caught: scorers, tasks, provider", lambda f, fn: "site-packages" not in f and any(
        d in f for d in ("/scorers/", "/tasks/", "/solvers/", "/models/"))),
    ("log: samples read back from the file", _in("_recorders/eval.py", "load", "_ensure_loaded")),
    ("log: samples serialized, compressed, zipped", _in("_recorders/eval.py", "write_buffered_samples",
                                                         "_zip_writestr")),
    ("log: sample condensed and buffered", lambda f, fn: fn in ("condense_sample", "buffer_sample", "complete_sample")
     or (f.endswith("task/run.py") and fn == "log_sample")),
    ("log: sample summaries", lambda f, fn: fn in ("make_sample_summary", "thin_data") or (
        "log/_log.py" in f and fn == "summary")),
    ("log: start and finish", lambda f, fn: fn in ("log_finish", "log_start", "log_init", "_finish_task_log")),
    ("model: event and usage records", lambda f, fn: fn in ("_record_model_interaction", "complete",
                                                           "record_and_check_model_usage", "_snapshot_message")),
    ("model: trace log (trace_action)", _in("inspect_ai/_util/trace.py")),
    ("model: generate (retries, config, cache)", lambda f, fn: "inspect_ai/model/" in f or "/tenacity/" in f),
    ("sample: state created (deep copies)", lambda f, fn: fn == "create_sample_state"),
    ("sample: transcript events", lambda f, fn: "log/_transcript.py" in f or "inspect_ai/event/" in f
     or "agent/_acp/" in f),
    ("sample: hooks and spans", lambda f, fn: "inspect_ai/hooks/" in f or "util/_span.py" in f),
    ("sample: scoring (Inspect)", _in("inspect_ai/scorer/")),
    ("sample: the rest of a sample's run", lambda f, fn: fn in ("_task_run_sample_attempt", "task_run_sample",
                                                               "run_sample")),
    ("eval: set-up, scheduling, display, results", _in("inspect_ai/")),
]


class StackSampler:
    """A statistical profiler: the main thread's stack every few ms of process CPU time (SIGPROF; the kernel's tick
    bounds the rate), so async code is attributed to what it runs, at a small cost, unlike cProfile's."""

    def __init__(self, interval: float = 0.001):
        import collections

        self.interval, self.stacks = interval, collections.Counter()

    def _sample(self, signum, frame) -> None:
        stack = []
        while frame is not None:
            stack.append((frame.f_code.co_filename, frame.f_code.co_name))
            frame = frame.f_back
        self.stacks[tuple(stack)] += 1

    def __enter__(self):
        import signal

        self._old = signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._old)

    def report(self, cpu_ms_per_sample: float) -> dict:
        counts = {label: 0 for label, _ in STACK_CATEGORIES} | {"other": 0}
        for stack, count in self.stacks.items():
            label = next((lab for lab, match in STACK_CATEGORIES if any(match(f, fn) for f, fn in stack)), "other")
            counts[label] += count
        total = sum(counts.values()) or 1
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        return dict(cpu_ms_per_sample=cpu_ms_per_sample, stacks=total,
                    ms_per_sample={label: c / total * cpu_ms_per_sample for label, c in ranked if c})


def cell_evaluation(path: str, args) -> dict:
    """One sweep cell's evaluation phase, `caught.compare.evaluate_checkpoint` as `caught.sweep` runs it (deployment,
    testing, the k trained inputs over 4 epochs, usefulness on both framings, capability, all in one Inspect eval,
    then the teacher-forced scores), on a copy of the checkpoint made a train-against checkpoint of k catch inputs.
    `before`: evaluate_many as it was (one batch of requests in flight, the samples read back from the .eval files);
    `after`: as it is (the samples from memory); `in flight 4`: with `$CAUGHT_IN_FLIGHT_BATCHES=4`. Interleaved
    --repeats times after one untimed warm-up run, each run loading the model afresh and writing new logs, in the
    benchmark's dtype (`$CAUGHT_DTYPE`; fp32 on CPU). `before` and `after` are meant to decode the same batches, and
    their records are compared; `in flight 4` changes which requests share a batch, and a completion can depend on
    that (padding changes floating-point sums, in fp32 too), so the records unlike before's are counted."""
    import shutil

    import caught.compare as compare
    import training.evaluate as ev
    from models.registry import inference_args, inspect_model, release_models, resolve
    from tasks.prompts import prompts
    from training.manifest import Manifest, write_manifest

    n, usefulness_n, capability_n, k, max_tokens = (int(x) for x in args.cell_n.split(","))
    work = Path(tempfile.mkdtemp(prefix="cell-"))
    ckpt = work / "cell"
    shutil.copytree(path, ckpt)
    ids = sorted(p.id for p in prompts("catch"))[:k]
    write_manifest(ckpt, Manifest(kind="train-against", name="cell", parent=path, scenario="trigger", behavior="hate",
                                  seed=0, method="full", hyperparameters={}, data_hash="benchmark", n_examples=k, k=k,
                                  example_ids=ids))
    tf_seconds = [0.0]
    real_tf = compare.teacher_forced_scores

    def timed_tf(*a, **kw):
        start = time.perf_counter()
        try:
            return real_tf(*a, **kw)
        finally:
            tf_seconds[0] = time.perf_counter() - start

    os.environ["CAUGHT_DTYPE"] = args.dtype
    compare.evaluate_checkpoint(str(ckpt), "trigger", "hate", n=4, usefulness_n=4, capability_n=4, temperature=1.0,
                                trained_samples=1, seed=99, log_dir=str(work / "logs-warm-up"), device=args.device,
                                max_tokens=4)  # imports and first-use costs, outside the timed runs
    # before: as evaluate_many was; after: as it is by default; in flight 4: with $CAUGHT_IN_FLIGHT_BATCHES=4 (opt-in)
    settings = {"before": (1, False), "after": (1, True), "in flight 4": (4, True)}
    runs: dict[str, list[dict]] = {s: [] for s in settings}
    records: dict[str, list] = {}
    saved = ev.IN_FLIGHT_BATCHES, ev.SAMPLES_FROM_MEMORY
    compare.teacher_forced_scores = timed_tf
    try:
        for repeat in range(args.repeats):
            for setting, (in_flight, from_memory) in settings.items():
                ev.IN_FLIGHT_BATCHES, ev.SAMPLES_FROM_MEMORY = in_flight, from_memory
                release_models()
                start = time.perf_counter()
                _, recs = compare.evaluate_checkpoint(
                    str(ckpt), "trigger", "hate", n=n, usefulness_n=usefulness_n, capability_n=capability_n,
                    temperature=1.0, trained_samples=4, seed=repeat, log_dir=str(work / f"logs-{setting}-{repeat}"),
                    device=args.device, max_tokens=max_tokens)
                wall = time.perf_counter() - start
                prof = inspect_model(f"ckpt/{resolve(str(ckpt))}", **inference_args(args.device)).api.profile()
                inspect_samples = sum(1 for r in recs if not r["evaluation"].startswith("tf_"))
                run = dict(wall_s=wall, samples=inspect_samples, records=len(recs), load_s=prof["load_seconds"],
                           decode_s=prof["decode_seconds"], teacher_forced_s=tf_seconds[0],
                           batch_sizes=prof["batch_sizes"])
                run["rest_s"] = wall - run["load_s"] - run["decode_s"] - run["teacher_forced_s"]
                runs[setting].append(run)
                records.setdefault(f"{setting}-{repeat}", [{k2: v for k2, v in r.items() if k2 not in ("log",)}
                                                           for r in recs])
                print(f"cell evaluation [{setting}] run {repeat + 1}: wall {wall:.2f} s for {inspect_samples} samples "
                      f"(+ teacher-forced), model load {run['load_s']:.2f} s, decoding {run['decode_s']:.2f} s in "
                      f"{len(run['batch_sizes'])} batches {run['batch_sizes']}, teacher-forced {tf_seconds[0]:.2f} s, "
                      f"the rest (Inspect, scoring, logs) {run['rest_s']:.2f} s", flush=True)
    finally:
        ev.IN_FLIGHT_BATCHES, ev.SAMPLES_FROM_MEMORY = saved
        compare.teacher_forced_scores = real_tf
        release_models()
    same = all(records[f"before-{r}"] == records[f"after-{r}"] for r in range(args.repeats))
    differing: dict[str, list[int]] = {}
    for setting in ("after", "in flight 4"):
        for r in range(args.repeats):
            a, b = records[f"before-{r}"], records[f"{setting}-{r}"]
            differ = {x.get("evaluation"): 0 for x in a}
            for x, y in zip(a, b):
                differ[x.get("evaluation")] += x != y
            differing.setdefault(setting, []).append(sum(differ.values()) + abs(len(a) - len(b)))
            if any(differ.values()) or len(a) != len(b):
                print(f"[{setting}] run {r + 1}: {len(a)} and {len(b)} records; records unlike before's by evaluation: "
                      f"{ {k: v for k, v in differ.items() if v} }")
    out = {"settings": {s: {"in_flight_batches": a, "samples_from_memory": b} for s, (a, b) in settings.items()},
           "sizes": dict(n=n, usefulness_n=usefulness_n, capability_n=capability_n, k=k, trained_samples=4,
                         max_tokens=max_tokens, temperature=1.0), "runs": runs, "records_identical": same,
           "records_unlike_before": differing}
    print(f"\none sweep cell's evaluation phase (caught.compare.evaluate_checkpoint; n={n}, usefulness {usefulness_n} "
          f"per framing, capability {capability_n}, k={k} x 4 epochs, {max_tokens} new tokens), medians of "
          f"{args.repeats}:")
    print(f"{'setting':<12}{'wall s':>8}{'load':>7}{'decode':>8}{'batches':>9}{'t-forced':>10}{'rest':>7}"
          f"{'rest ms/sample':>16}")
    for setting, rs in runs.items():
        med = {key: statistics.median(r[key] for r in rs) for key in ("wall_s", "load_s", "decode_s",
                                                                          "teacher_forced_s", "rest_s")}
        batches = statistics.median(len(r["batch_sizes"]) for r in rs)
        out[setting] = dict(**med, batches=batches, rest_ms_per_sample=med["rest_s"] / rs[0]["samples"] * 1e3)
        print(f"{setting:<12}{med['wall_s']:>8.2f}{med['load_s']:>7.2f}{med['decode_s']:>8.2f}{batches:>9.0f}"
              f"{med['teacher_forced_s']:>10.2f}{med['rest_s']:>7.2f}{out[setting]['rest_ms_per_sample']:>16.2f}")
    out["ratio_before_over_after"] = out["before"]["wall_s"] / out["after"]["wall_s"]
    out["ratio_before_over_in_flight_4"] = out["before"]["wall_s"] / out["in flight 4"]["wall_s"]
    print(f"before / after wall: {out['ratio_before_over_after']:.2f}x, per-sample records identical to before's: "
          f"{same}; before / in flight 4: {out['ratio_before_over_in_flight_4']:.2f}x, records unlike before's (of "
          f"{len(records['before-0'])}) per run: {differing['in flight 4']}")
    return out


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
    parser.add_argument("--stacks", action="store_true",
                        help="sample the main thread's stacks in mockllm/ runs: Inspect's per-sample cost by component")
    parser.add_argument("--threads", type=int, default=None, help="torch's intra-op threads (default: torch's own)")
    parser.add_argument("--cell", action="store_true",
                        help="also one sweep cell's evaluation phase (caught.compare.evaluate_checkpoint) before/after")
    parser.add_argument("--cell-n", default="50,60,24,16,32",
                        help="the cell's eval n, usefulness_n, capability_n, k (trained inputs) and max new tokens")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--profile", default=None,
                        help="write a cProfile of the last timed ckpt/ run under caught's options (main thread) here")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.max_tokens, args.hf_connections = 8, 16, "8"
    dtype = args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")

    import torch
    from inspect_ai.model import get_model

    if args.threads:
        torch.set_num_threads(args.threads)
    LOAD[0] = os.getloadavg()

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
    from tasks.prompts import prompts

    # the eval split holds 414 prompts (the task refuses more): a larger --samples runs them all
    task = lambda: deployment(scenario="trigger", n=min(args.samples, len(prompts("eval"))), seed=0)  # noqa: E731
    caught_options = {k: v for k, v in EVAL_OPTIONS.items() if k != "display"}
    # Inspect's defaults; caught's options with the samples read back from the log (as before 2026-12-06 -b); and with
    # the samples kept as they were logged (training.evaluate.SAMPLES_FROM_MEMORY, what evaluate_many does now)
    settings = {"inspect defaults": {}, "caught": caught_options, "caught, from memory": caught_options}
    memory = {"caught, from memory"}
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else (
        platform.processor() or platform.machine())
    print(f"device: {args.device} ({where}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs)  dtype: {dtype}"
          f"  checkpoint: {path}  samples asked: {args.samples}  max new tokens: {args.max_tokens}  greedy")
    print(f"caught's settings: Inspect options {caught_options} (training.evaluate.EVAL_OPTIONS), the garbage "
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
                    with quiet_collector() if setting != "inspect defaults" else contextlib.nullcontext():
                        wall, out, tokens, n = run(task(), ckpt, logs, from_memory=setting in memory,
                                                   max_tokens=args.max_tokens, max_connections=args.samples, **options)
                    if profiler is not None:
                        profiler.disable()
                        profiler.dump_stats(args.profile)
                    after = ckpt.api.profile()
                    spent = {k: after[k] - before[k] for k in ("decode_seconds", "bookkeeping_seconds",
                                                                 "capture_seconds", "batches", "captures")}
                    detect = detector_seconds(out)
                    timed[setting].append(dict(wall=wall, n=n, tokens=tokens, detectors_seconds=detect,
                                               main_thread_cpu_seconds=LAST_CPU[0], samples_seconds=LAST_SAMPLES[0],
                                               **spent))
                    ckpt_outs[name] = out
                    print(f"{name} [{setting}] run {repeat + 1}: wall {wall:.2f} s for {n} samples, decoding "
                          f"{spent['decode_seconds']:.2f} s in {spent['batches']} batches, provider bookkeeping "
                          f"{spent['bookkeeping_seconds']:.2f} s; non-decoding "
                          f"{(wall - spent['decode_seconds']) / n * 1e3:.1f} ms/sample, + getting the samples "
                          f"{LAST_SAMPLES[0] / n * 1e3:.1f} ms/sample; main thread's CPU "
                          f"{LAST_CPU[0] / n * 1e3:.1f} ms/sample", flush=True)
            for setting, runs in timed.items():
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                n = runs[0]["n"]
                non_decoding = [(r["wall"] - r["decode_seconds"]) / n * 1e3 for r in runs]
                with_samples = [(r["wall"] - r["decode_seconds"] + r["samples_seconds"]) / n * 1e3 for r in runs]
                splits[f"{name} [{setting}]"] = dict(
                    runs=runs, samples=n, wall_s=med["wall"],
                    per_sample_ms=dict(
                        wall=med["wall"] / n * 1e3, decoding=med["decode_seconds"] / n * 1e3,
                        non_decoding=statistics.median(non_decoding),
                        samples=med["samples_seconds"] / n * 1e3,
                        non_decoding_with_samples=statistics.median(with_samples),
                        provider_bookkeeping=med["bookkeeping_seconds"] / n * 1e3,
                        inspect=statistics.median((r["wall"] - r["decode_seconds"] - r["bookkeeping_seconds"]) / n * 1e3
                                                  for r in runs),
                        of_which_detectors=med["detectors_seconds"] / n * 1e3,
                        main_thread_cpu=med["main_thread_cpu_seconds"] / n * 1e3),
                    non_decoding_ms_runs=non_decoding, non_decoding_with_samples_ms_runs=with_samples)
                rows.append((f"{name} [{setting}]", ckpt.api.max_connections(), med["wall"], int(med["tokens"])))
            del ckpt
        # what Inspect costs per sample with no model: mockllm answering at once, same task and options
        floor = {}
        for setting, options in settings.items():
            walls, cpus = [], []
            for _ in range(args.repeats):
                with quiet_collector() if setting != "inspect defaults" else contextlib.nullcontext():
                    wall, _, _, n = run(task(), instant_model(args.samples), logs, from_memory=setting in memory,
                                        max_connections=args.samples, **options)
                walls.append((wall + LAST_SAMPLES[0]) / n * 1e3)
                cpus.append(LAST_CPU[0] / n * 1e3)
            floor[setting] = dict(wall=statistics.median(walls), main_thread_cpu=statistics.median(cpus))
        stacks = None
        if args.stacks:  # where Inspect's time goes per sample: mockllm/ under caught's settings, sampled stacks
            sampler = StackSampler()
            cpu = 0.0
            for _ in range(args.repeats):
                with quiet_collector(), sampler:
                    start = time.process_time()
                    _, _, _, n = run(task(), instant_model(args.samples), logs, from_memory=True,
                                     max_connections=args.samples, **caught_options)
                    cpu += time.process_time() - start
            stacks = sampler.report(cpu / (args.repeats * n) * 1e3)
        best = None
        if not args.no_hf:
            for conns in [int(c) for c in args.hf_connections.split(",")]:
                hf = get_model(f"hf/{path}", device=args.device, do_sample=False, memoize=False,
                               dtype=getattr(torch, dtype))
                run(deployment(n=2), hf, logs, max_tokens=4, max_connections=conns)
                with quiet_collector():
                    wall_hf, hf_out, tokens_hf, _ = run(task(), hf, logs, max_tokens=args.max_tokens,
                                                        max_connections=conns, **caught_options)
                rows.append(("hf/ [caught]", conns, wall_hf, tokens_hf))
                if best is None or wall_hf < best[0]:
                    best = (wall_hf, conns, hf_out)
                del hf

    print("\nwhere ckpt/'s time goes, ms per sample (medians of --repeats runs): non-decoding = wall - decoding, of "
          "which the provider's bookkeeping and the rest (Inspect; the detectors' share timed apart); samples = getting "
          "the log's samples after the eval (read back from the file, or from memory); main CPU = the main thread's CPU "
          "time during the eval (Inspect's event loop, the provider's bookkeeping and scoring; not decoding)")
    print(f"{'run':<34}{'n':>5}{'wall':>8}{'decode':>8}{'non-dec':>9}{'provider':>10}{'Inspect':>9}{'(detect)':>10}"
          f"{'samples':>9}{'non-dec+s':>11}{'main CPU':>10}")
    for key, s in splits.items():
        p = s["per_sample_ms"]
        print(f"{key:<34}{s['samples']:>5}{p['wall']:>8.2f}{p['decoding']:>8.2f}{p['non_decoding']:>9.2f}"
              f"{p['provider_bookkeeping']:>10.2f}{p['inspect']:>9.2f}{p['of_which_detectors']:>10.2f}"
              f"{p['samples']:>9.2f}{p['non_decoding_with_samples']:>11.2f}{p['main_thread_cpu']:>10.2f}")
    for setting, ms in floor.items():
        print(f"{'mockllm/ [' + setting + ']':<34}{'':>5}{ms['wall']:>8.2f}{'':>74}{ms['main_thread_cpu']:>10.2f}"
              "   (wall incl. samples: Inspect and scoring, an instant model)")
    target_ms = 2.0
    for key, s in splits.items():
        for what, ms in (("non-decoding", s["per_sample_ms"]["non_decoding"]),
                         ("with the samples in hand", s["per_sample_ms"]["non_decoding_with_samples"])):
            print(f"{key}: {what} {ms:.2f} ms/sample (target <= {target_ms} ms: "
                  f"{'met' if ms <= target_ms else f'missed by {ms - target_ms:.2f} ms'})")
    if stacks:
        print(f"\nwhere Inspect's time goes per sample: mockllm/ [caught, from memory], process CPU "
              f"{stacks['cpu_ms_per_sample']:.2f} ms/sample with the sampler on, {stacks['stacks']} sampled stacks "
              "(each sample's stack goes to the first category, in this order, that one of its frames matches)")
        for label, ms in stacks["ms_per_sample"].items():
            print(f"  {ms:6.2f} ms  {ms / stacks['cpu_ms_per_sample']:6.1%}  {label}")
    cell = cell_evaluation(path, args) if args.cell else None

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
                      eval_options=caught_options, torch_threads=torch.get_num_threads(),
                      load_average_before=LOAD[0], load_average_after=os.getloadavg(), hf_best_batch=best[1] if best else None,
                      date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), command=" ".join(sys.argv)),
            rows=[dict(provider=n, batch=b, wall_s=w, new_tokens=t, tokens_per_s=t / w) for n, b, w, t in rows],
            summary=summary, ckpt_splits=splits, mockllm_ms_per_sample=floor, inspect_stacks=stacks,
            cell_evaluation=cell))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
