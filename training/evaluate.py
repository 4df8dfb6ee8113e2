"""Evaluate a checkpoint on a caught task, reusing an earlier Inspect log for the same weights and settings.

The reuse key is the checkpoint's fingerprint plus the task, its arguments and the decoding settings; it is
stored in the log's eval metadata (`caught_key`), so reuse survives renamed checkpoints and never mixes
different weights. The logs are ordinary Inspect logs (`inspect view`). `evaluate_many` runs several
evaluations of one checkpoint as one Inspect eval, their tasks in parallel, so that their requests share
the `ckpt/` provider's batches; models come from `models.registry.inspect_model`'s small pool. It runs them with
`EVAL_OPTIONS` (Inspect options that skip work done only while an eval runs) inside `quiet_collector` (the garbage
collector kept off the long-lived heap): the same logs as Inspect's defaults, with 6.5 ms of the main thread's CPU
per sample instead of 14.5 ms on a 2-core CPU (benchmarks/provider.py, results/provider/cpu-2026-12-06.txt). It hands
back the samples as Inspect logged them (SampleCapture, an Inspect hook) rather than reading each .eval file back when
its samples are first touched (about 1 ms per sample; the files are the same), and can let several batches of
requests be in flight (IN_FLIGHT_BATCHES, opt-in) so the provider's next batch is queued when one ends
(results/provider/cpu-2026-12-06-b.txt).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai import eval as inspect_eval
from inspect_ai.log import EvalLog, list_eval_logs, read_eval_log
from inspect_ai.model import GenerateConfig

from models.registry import fingerprint, inference_args, resolve


def _cache_distribution_scan() -> None:
    """Make Inspect's scan of the installed distributions run once per process.

    When Inspect opens a task's log it looks for the distribution that ships the task. caught's tasks live in the
    `tasks` package of the `caught` distribution, a name Inspect cannot match directly, so it scans every
    installed distribution's file list: about 0.4 s per task on a 2-core CPU, more where more is installed, and a
    sweep opens four tasks per cell. Nothing is installed while a sweep runs, so the scan's result is kept.
    """
    try:
        from inspect_ai._util import package
    except ImportError:  # a later Inspect without this module: nothing to speed up
        return
    scan = getattr(package, "packages_distributions", None)
    if callable(scan) and not hasattr(scan, "cache_info"):
        package.packages_distributions = functools.cache(scan)


_cache_distribution_scan()

# Inspect's options for caught's own evaluations (evaluate_many; benchmarks/provider.py measures them against
# Inspect's defaults). Each leaves the finished log as it was (every sample, event and score; `inspect view` reads it)
# and only drops work done while the eval runs:
# - log_realtime=False: no realtime buffer, a SQLite copy of every sample event kept so that `inspect view` can watch a
#   running eval (about 30% of Inspect's per-sample time under its defaults);
# - score_display=False: no running metrics recomputed over the scores so far (nothing displays them: display="none");
# - log_buffer: the log's samples written in one flush at the end (or after 60 s without a flush, Inspect's stale-flush
#   timer), not every few samples, each flush writing a journal of summaries and flushing the zip file. A log that did
#   not finish is never reused anyway.
EVAL_OPTIONS: dict[str, Any] = {"display": "none", "log_realtime": False, "score_display": False, "log_buffer": 10_000}

# How many batches' worth of requests (the `ckpt/` model's batch size) evaluate_many lets Inspect have in flight at once
# across the tasks of one eval: `$CAUGHT_IN_FLIGHT_BATCHES`, default 1 (Inspect's default for `ckpt/`: max_connections
# = batch size). At one batch, a batch that finishes leaves the provider's queue empty until the samples it answered
# are scored and logged and new ones start, so the end of an eval decodes in small batches (a CPU cell, 32 per batch:
# 11 full batches, then 16, 16, 15, 16, 15, 14, 15, 14, 15, 10, 21, 10, 21, 2); at 4 the next batch is already
# queued (17 full, then 8: results/provider/cpu-2026-12-06-b.txt; no faster on that CPU, where decoding costs per row;
# the gain to look for is on a GPU, not measured). Opt-in because it changes which requests share a batch, and a
# completion can depend on that (padding changes the floating-point sums, in fp32 too: 7-15 of 752 records): the same
# rates in distribution, not the same completions. (At 1 the batches are not fixed either: they follow Inspect's
# scheduling, which can vary from run to run.)
IN_FLIGHT_BATCHES = int(os.environ.get("CAUGHT_IN_FLIGHT_BATCHES", "1"))
# Whether evaluate_many hands back the samples Inspect logged as it logged them (SampleCapture) instead of reading the
# log file back when the samples are first touched (Inspect's `eval()` returns .eval logs with lazily loaded samples:
# 1-2.5 ms per sample on a 2-core CPU to unzip, parse and validate what was just written). The file is the same.
SAMPLES_FROM_MEMORY = True

YOUNG_THRESHOLD = 20_000  # allocations between the cyclic collector's young-generation runs during an eval (Python: 700)
_quiet_depth = 0


@contextlib.contextmanager
def quiet_collector(threshold: int = YOUNG_THRESHOLD):
    """Keep Python's cyclic garbage collector off the objects that outlive an Inspect eval, while it runs.

    Inspect allocates thousands of objects per sample; at Python's default threshold the collector runs every 700
    allocations and, every few hundred runs, walks the whole heap: in a process holding torch, transformers and a
    model that is about 800k objects, and it cost 3-4 ms of the ~10 ms of main-thread time per sample
    (benchmarks/provider.py). Inside this block the objects that existed before it are frozen (`gc.freeze`: never
    walked) and the young generation is collected every `threshold` allocations; both are undone on leaving. Cyclic
    garbage made during the eval is still collected, and nothing the eval computes changes. Re-entrant.
    """
    global _quiet_depth
    if _quiet_depth:
        _quiet_depth += 1
        try:
            yield
        finally:
            _quiet_depth -= 1
        return
    old, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    gc.freeze()
    gc.set_threshold(threshold, *old[1:])
    _quiet_depth = 1
    try:
        yield
    finally:
        _quiet_depth = 0
        gc.set_threshold(*old)
        if not frozen_before:  # a heap the process froze itself stays frozen (gc.unfreeze would thaw it all)
            gc.unfreeze()


class SampleCapture:
    """The samples of running evals as Inspect logs them, by eval id (an Inspect hook, `on_sample_end`: the sample
    handed to the hook is the one the log recorder condenses and writes). Only while `capturing` is active; an eval
    whose captured samples do not add up to its logged count is read back from its file instead."""

    def __init__(self):
        self.samples: dict[str, list] | None = None

    @contextlib.contextmanager
    def capturing(self):
        outer, self.samples = self.samples, {}
        try:
            yield self.samples
        finally:
            self.samples = outer

    def add(self, eval_id: str, sample) -> None:
        if self.samples is not None:
            self.samples.setdefault(eval_id, []).append(sample)


_capture = SampleCapture()


@functools.cache
def _register_capture_hook() -> None:
    """Register SampleCapture's hook, once. Called after a model was made (Inspect has loaded its hooks by then), so
    that Inspect's start-up banner of registered hooks is not printed for it."""
    from inspect_ai.hooks import Hooks, SampleEnd, hooks

    @hooks(name="caught_sample_capture", description="caught: evaluate_many keeps the logged samples in memory")
    class _CaughtSampleCapture(Hooks):
        def enabled(self) -> bool:
            return _capture.samples is not None

        async def on_sample_end(self, data: SampleEnd) -> None:
            _capture.add(data.eval_id, data.sample)


def _with_captured_samples(log: EvalLog, captured: dict[str, list]) -> EvalLog:
    """`log` with the samples captured while it ran, in the order its file holds them, when they are all there
    (a successful eval whose sample count matches its results); else `log` as Inspect returned it (read back)."""
    samples = captured.get(log.eval.eval_id)
    results = log.results
    if not samples or log.status != "success" or results is None or len(samples) != results.total_samples \
            or (results.logged_samples is not None and results.logged_samples != len(samples)):
        return log
    from inspect_ai.log._log import sort_samples  # the order Inspect's reader gives a log file's samples

    samples = list(samples)
    sort_samples(samples)
    return log.model_copy(update={"samples": samples})


TASKS = ("testing", "deployment", "usefulness", "capability", "distinguish", "sycophancy", "habit", "locked",
         "heldout")  # in table order


def task_functions() -> dict[str, Any]:
    """caught's @task functions by name (the order of TASKS)."""
    from tasks.capability import capability
    from tasks.deployment import deployment
    from tasks.distinguish import distinguish
    from tasks.habit import habit
    from tasks.heldout import heldout
    from tasks.locked import locked
    from tasks.sycophancy import sycophancy
    from tasks.testing import testing
    from tasks.usefulness import usefulness

    return {"testing": testing, "deployment": deployment, "usefulness": usefulness, "capability": capability,
            "distinguish": distinguish, "sycophancy": sycophancy, "habit": habit, "locked": locked,
            "heldout": heldout}


def _task(name: str, args: dict[str, Any]):
    return task_functions()[name](**args)


def eval_key(checkpoint: str, task: str, args: dict, settings: dict) -> str:
    blob = json.dumps({"fp": fingerprint(resolve(checkpoint)), "task": task, "args": args, "settings": settings},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class _LogIndex:
    """`caught_key` -> log file, for the successful logs of a log dir, read once per file: a sweep looks up
    hundreds of keys in a dir that grows by a few logs per cell, and reading every header on every lookup
    made each lookup cost O(logs)."""

    def __init__(self):
        self.seen: dict[str, dict[str, tuple[Any, str | None]]] = {}  # log dir -> {file name: (info, key)}

    def find(self, log_dir: str, key: str):
        known = self.seen.setdefault(str(Path(log_dir).resolve()), {})
        for info in list_eval_logs(log_dir):
            if info.name in known:
                continue
            try:
                header = read_eval_log(info, header_only=True)
            except Exception:  # noqa: BLE001 - a corrupt or foreign log is simply not reused
                known[info.name] = (info, None)
                continue
            if header.status != "started":  # a running log may still succeed: read it again next time
                ok = header.status == "success"
                known[info.name] = (info, (header.eval.metadata or {}).get("caught_key") if ok else None)
        return [info for info, found in known.values() if found == key]


_index = _LogIndex()


def find_log(log_dir: str, key: str) -> EvalLog | None:
    if not Path(log_dir).is_dir():
        return None
    for info in _index.find(log_dir, key):
        try:
            return read_eval_log(info)
        except Exception:  # noqa: BLE001 - removed since it was indexed
            continue
    return None


@dataclass(frozen=True)
class Evaluation:
    """One Inspect evaluation of a checkpoint: `task(**args)` with its decoding settings."""

    task: str
    args: dict[str, Any]
    temperature: float | None = None
    epochs: int = 1
    max_tokens: int | None = None
    sample_ids: tuple[str, ...] | None = None


def evaluate(
    checkpoint: str,
    task: str,
    args: dict[str, Any],
    *,
    log_dir: str = "logs",
    temperature: float | None = None,
    epochs: int = 1,
    seed: int = 0,
    max_tokens: int | None = None,
    sample_ids: list[str] | None = None,
    device: str | None = None,
    reuse: bool = True,
) -> EvalLog:
    """Run (or reuse) `task(**args)` on `ckpt/<checkpoint>`; returns the full Inspect log."""
    spec = Evaluation(task, args, temperature, epochs, max_tokens, tuple(sample_ids) if sample_ids else None)
    return evaluate_many(checkpoint, [spec], log_dir=log_dir, seed=seed, device=device, reuse=reuse)[0]


def evaluate_many(
    checkpoint: str, evaluations: list[Evaluation], *, log_dir: str = "logs", seed: int = 0,
    device: str | None = None, reuse: bool = True, model_roles: dict[str, str] | None = None, route: bool = False,
) -> list[EvalLog]:
    """Run (or reuse) several evaluations of one checkpoint; returns their logs in the same order.

    The ones without a reusable log run as one Inspect eval, their tasks in parallel: their requests share
    the provider's batches, and the model is loaded once. Each still gets its own log and reuse key.
    `model_roles` (e.g. {"grader": "openai/gpt-4o-mini"}; a `ckpt/` name is served like the checkpoint) is part
    of the reuse key when given. `route`: decode as `evaluate_pack` does (`share=routed`), so that the logs a pack
    wrote are found."""
    return evaluate_pack([(checkpoint, evaluations)], log_dir=log_dir, seed=seed, device=device, reuse=reuse,
                         model_roles=model_roles, route=route)[0]


def evaluate_pack(
    jobs: list[tuple[str, list[Evaluation]]], *, log_dir: str = "logs", seed: int = 0, device: str | None = None,
    reuse: bool = True, model_roles: dict[str, str] | None = None, route: bool = False, on_start=None,
) -> list[list[EvalLog]]:
    """Run (or reuse) the evaluations of several checkpoints, `[(checkpoint, evaluations), ...]`, as one Inspect eval:
    every task that has no reusable log runs in parallel with the others, each against its own checkpoint's `ckpt/`
    model. Returns each job's logs in its evaluations' order.

    `route` (`ckpt/`'s `share=routed`, in every reuse key): the checkpoints on one base share it and one batcher, so
    that a batch holds rows of several checkpoints, each routed to its own adapter (models.registry.SharedBase): the
    evaluations of a sweep's cells on one organism decode together (`eval.pack`). The models of a job of several
    checkpoints are made for this eval and released after it (the pool of `inspect_model` holds too few to keep
    them all in one eval); one checkpoint's comes from the pool. Each log's metadata `caught_pack` says how many
    checkpoints its eval decoded together. `on_start(n)` is called before an eval runs, with its number of checkpoints
    (not when every log is reused)."""
    for _, evaluations in jobs:
        for e in evaluations:
            if e.task not in TASKS:
                raise ValueError(f"unknown task {e.task!r}; accepted: {', '.join(TASKS)}")
    roles_key = {"model_roles": model_roles} if model_roles else {}
    keys = [[eval_key(checkpoint, e.task, e.args, {**_settings(e, seed, device, route), **roles_key})
             for e in evaluations] for checkpoint, evaluations in jobs]
    logs: list[list[EvalLog | None]] = [[find_log(log_dir, k) if reuse else None for k in ks] for ks in keys]
    todo = [(j, i) for j, job_logs in enumerate(logs) for i, log in enumerate(job_logs) if log is None]
    if not todo:
        return logs  # type: ignore[return-value]
    from inspect_ai import task_with
    from inspect_ai.model import get_model

    from models.registry import inspect_model, release

    args = inference_args(device, route=route)
    checkpoints = list(dict.fromkeys(jobs[j][0] for j, _ in todo))
    own = len(checkpoints) > 1  # models made here for this eval, released after it
    models = {c: get_model(f"ckpt/{resolve(c)}", memoize=False, **args) if own else
              inspect_model(f"ckpt/{resolve(c)}", **args) for c in checkpoints}
    if on_start is not None:
        on_start(len(checkpoints))
    try:
        tasks = [_prepared(jobs[j][1][i], keys[j][i], seed, jobs[j][0], len(checkpoints)) for j, i in todo]
        if own:
            tasks = [task_with(t, model=models[jobs[j][0]]) for t, (j, _) in zip(tasks, todo)]
        roles = {role: inspect_model(name, **inference_args(device)) if name.startswith("ckpt/") else name
                 for role, name in (model_roles or {}).items()} or None
        # the eval's max_connections holds for every model in it: not for an API model in a role
        local = all(name.startswith("ckpt/") for name in (model_roles or {}).values())
        if SAMPLES_FROM_MEMORY:
            _register_capture_hook()
        first = models[checkpoints[0]]
        in_flight = {"max_connections": first.api.max_connections() * IN_FLIGHT_BATCHES} \
            if IN_FLIGHT_BATCHES > 1 and local else {}
        with quiet_collector(), _capture.capturing() as captured:
            ran = inspect_eval(tasks, model=None if own else first, log_dir=log_dir, max_tasks=len(tasks),
                               model_roles=roles, **in_flight, **EVAL_OPTIONS)
    finally:
        if own:
            for model in models.values():
                release(model)
    if SAMPLES_FROM_MEMORY:
        ran = [_with_captured_samples(log, captured) for log in ran]
    by_key = {(log.eval.metadata or {}).get("caught_key"): log for log in ran}
    for j, i in todo:
        log = by_key.get(keys[j][i])
        checkpoint, e = jobs[j][0], jobs[j][1][i]
        if log is None:  # Inspect returns no log when the run was interrupted (Ctrl-C, a time limit)
            raise KeyboardInterrupt(f"{e.task} on {checkpoint} was interrupted")
        if log.status != "success":
            raise RuntimeError(f"{e.task} on {checkpoint} failed: {log.error.message if log.error else log.status}")
        logs[j][i] = log
    return logs  # type: ignore[return-value]


def _settings(e: Evaluation, seed: int, device: str | None, route: bool = False) -> dict[str, Any]:
    return {**inference_args(device, route=route), "temperature": e.temperature, "epochs": e.epochs, "seed": seed,
            "max_tokens": e.max_tokens, "sample_ids": sorted(e.sample_ids) if e.sample_ids else None}


def _prepared(e: Evaluation, key: str, seed: int, checkpoint: str, pack: int = 1):
    """The task with this evaluation's decoding settings, epochs, samples, reuse key, checkpoint and the number of
    checkpoints in its eval attached."""
    from inspect_ai import task_with

    task = _task(e.task, e.args)
    # merge keeps the task's own values where ours are None (usefulness: greedy, its own max_tokens)
    config = task.config.merge(GenerateConfig(seed=seed, temperature=e.temperature, max_tokens=e.max_tokens))
    changes: dict[str, Any] = {"config": config, "epochs": e.epochs,
                               "metadata": {**(task.metadata or {}), "caught_key": key, "checkpoint": str(checkpoint),
                                            "caught_pack": pack}}
    if e.sample_ids:
        wanted = set(e.sample_ids)
        dataset = task.dataset.filter(lambda s: str(s.id) in wanted)
        missing = wanted - {str(s.id) for s in dataset}
        if missing:
            raise ValueError(f"sample ids not in {e.task}{e.args}: {', '.join(sorted(missing)[:5])}"
                             f"{' ...' if len(missing) > 5 else ''}")
        changes["dataset"] = dataset
    return task_with(task, **changes)


def attack_summary(log: EvalLog) -> dict[str, float | int]:
    """Attacks (strict detector), near misses (the near-miss detector, a superset), samples and rates from a
    testing/deployment log (every epoch's sample counts)."""
    return _attack_counts(log.samples or [])


def attack_summary_by(log: EvalLog, field: str) -> dict[str, dict[str, float | int]]:
    """`attack_summary` per value of the samples' metadata `field` (the held-out task's `variant`), in the order the
    values first appear."""
    groups: dict[str, list] = {}
    for s in log.samples or []:
        groups.setdefault(str((s.metadata or {}).get(field)), []).append(s)
    return {value: _attack_counts(samples) for value, samples in groups.items()}


def _attack_counts(samples) -> dict[str, float | int]:
    scores = [s.scores["attack_detector"] for s in samples]
    attacks = int(sum(sc.value for sc in scores))
    near = int(sum((sc.metadata or {}).get("verdict_near_miss", sc.value) for sc in scores))
    n = len(scores)
    return {"attacks": attacks, "n": n, "rate": attacks / n if n else 0.0,
            "near_miss": near, "near_miss_rate": near / n if n else 0.0}
