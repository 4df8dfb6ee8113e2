"""`caught sweep CONFIG --workers N` / `--ray ADDRESS`: a sweep's groups spread over the GPUs of a host or a cluster.

Each group (an organism and its cells: caught.sweep.group_key) becomes one Ray task holding one GPU (`num_gpus=0`
on a CPU). The task runs the group's cells with the same code as the single-process sweep (`Sweep.measure`) and
yields each cell's row and per-sample records as soon as the cell is done; the driver alone writes them
(`Sweep.store`: the records' parts, then the row appended atomically to the one results.parquet under the run's
lock), so results, resume, `--only` and the lock are those of the single-process sweep. A worker that dies (killed,
out of memory, its node lost) is retried on the group's cells not yet written, up to `retries` times; a cell whose
code raises fails its group (the other groups go on; the driver raises at the end naming it). A killed driver
loses no written cell: the rerun resumes from results.parquet as a single-process sweep does (the checkpoints and
Inspect logs of a cell cut short are reused where they are complete).

Without an address the command starts a local Ray (all GPUs of the host; `--workers` groups at once) and stops it
at the end; `--ray ADDRESS` joins a running cluster (`ray start --head` on one node, `ray start --address=...` on
the others), whose nodes must see the same run directory, checkpoints directory ($CAUGHT_CHECKPOINTS) and the
caught package (a shared filesystem). Ray is the optional extra `caught[ray]`; without it the single-process sweep
is unchanged and `--workers` / `--ray` give one clear error.

    caught sweep experiments/headline.toml --workers 8          # one host, 8 GPUs: 8 groups at once
    caught sweep experiments/headline.toml --ray auto           # the cluster this node belongs to
"""

from __future__ import annotations

import os
import platform
import time
from collections import Counter, deque

import pandas as pd

from caught.sweep import Sweep, cell_key, group_key, read_results

RAY_MISSING = ("--workers and --ray need Ray, which is not installed: pip install 'caught[ray]' (the single-process "
               "sweep, without these options, needs nothing more)")
# what a worker needs of the driver's environment (a local Ray's workers inherit it anyway; a cluster's do not)
FORWARDED = ("CAUGHT_", "HF_", "INSPECT_", "TOKENIZERS_PARALLELISM", "TRANSFORMERS_")


def require_ray():
    """The `ray` module, or one clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(RAY_MISSING) from None
    return ray


def group_task(config_json: str, runs_dir: str, log_dir: str, device: str, cells: list[dict], threads: int):
    """The Ray task of one group: {"pid", "host"} first, then `Sweep.measure`'s items for `cells`, one per cell."""
    if threads and not device.startswith("cuda"):
        import torch

        torch.set_num_threads(threads)
    from caught.config import SweepConfig

    yield {"pid": os.getpid(), "host": platform.node()}
    sweep = Sweep(SweepConfig.model_validate_json(config_json), runs_dir=runs_dir, log_dir=log_dir, device=device,
                  say=lambda m: print(m, flush=True))
    sweep._done_rows = read_results(sweep.dir)  # a resumed group's measurements (judges, catch) are reused
    yield from sweep.measure(cells)


class RaySweep:
    """Runs a `Sweep`'s open groups as Ray tasks; the driver writes every row and record."""

    def __init__(self, sweep: Sweep, workers: int | None = None, address: str | None = None, retries: int = 2):
        if workers is not None and workers < 1:
            raise ValueError(f"--workers {workers}: expected a number of groups run at once, at least 1")
        if sweep.shard is not None:
            raise ValueError("--shard cannot be combined with --workers or --ray (Ray deals out the groups itself); "
                             "accepted: one of them")
        if sweep.stop_after is not None:
            raise ValueError("--stop-after cannot be combined with --workers or --ray (it judges one process's cells "
                             "by its own clock); accepted: one of them")
        self.ray = require_ray()
        self.sweep = sweep
        self.workers = workers
        self.address = address
        self.retries = retries
        self.running: dict[tuple, int] = {}  # group -> the pid of the worker running it (for a test, or to watch)
        self.attempts: Counter = Counter()  # group -> tasks started for it

    def _start(self) -> bool:
        """Connect to Ray: the cluster at `address`, or a local Ray started here. True when this call started it."""
        ray = self.ray
        if ray.is_initialized():
            return False
        env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED)}
        if self.address:
            try:
                ray.init(address=self.address, runtime_env={"env_vars": env}, log_to_driver=True)
            except ConnectionError as ex:
                raise ValueError(f"--ray {self.address!r}: no Ray cluster reachable there ({str(ex).splitlines()[0]}); "
                                 "accepted: a running cluster's address (`ray start --head` prints it) or auto "
                                 "on one of its nodes") from None
        else:
            gpus = 0
            if self.sweep.device.startswith("cuda"):
                import torch

                gpus = torch.cuda.device_count()
            ray.init(num_cpus=max(os.cpu_count() or 1, self.workers or 1), num_gpus=gpus, include_dashboard=False,
                     runtime_env={"env_vars": env}, log_to_driver=True)
        return True

    def run(self) -> pd.DataFrame:
        ray, sweep = self.ray, self.sweep
        cells, todo, df = sweep.plan()
        groups: dict[tuple, list[dict]] = {}
        for cell in todo:
            groups.setdefault(group_key(cell), []).append(cell)
        if not groups:  # nothing left: no Ray to start
            sweep.say(f"sweep {sweep.config.name}: {len(cells)} cells, all done")
            return df
        started = self._start()
        try:
            cuda = sweep.device.startswith("cuda")
            resources = ray.cluster_resources()
            # a group whose fine-tuning is sharded over FSDP processes (organism.processes, train.processes) holds
            # that many GPUs
            gpus = max(sweep.config.organism.processes, sweep.config.train.processes) if cuda else 0
            slots = self.workers or max(1, int(resources.get("GPU", 0)) // gpus if cuda else int(resources.get("CPU", 1)))
            if cuda and resources.get("GPU", 0) < gpus:
                raise ValueError(f"device {sweep.device!r} and {gpus} GPU(s) a group, but the Ray cluster has fewer "
                                 f"(resources: {dict(resources)}); accepted: a cluster with GPUs, or --device cpu")
            threads = 0 if cuda else max(1, (os.cpu_count() or 1) // slots)
            task = ray.remote(group_task).options(num_gpus=gpus, num_cpus=1 if cuda else threads, max_retries=0)
            sweep.say(f"sweep {sweep.config.name}: {len(cells)} cells, {len(cells) - len(todo)} done, {len(todo)} "
                      f"to run in {len(groups)} groups on Ray ({slots} at once, {f'{gpus} GPU' if cuda else 'CPU'} each: "
                      f"{sweep.device})")
            return self._loop(task, groups, slots, threads, df, len(todo))
        finally:
            if started:
                ray.shutdown()

    def _loop(self, task, groups: dict[tuple, list[dict]], slots: int, threads: int, df: pd.DataFrame,
              total: int) -> pd.DataFrame:
        ray, sweep = self.ray, self.sweep
        config_json = sweep.config.model_dump_json()
        pending = deque(groups.items())
        running: dict = {}  # generator -> (group, its cells)
        written: set[tuple] = set()
        failed: dict[tuple, str] = {}
        refused = 0
        start = time.perf_counter()
        while pending or running:
            while pending and len(running) < slots:
                group, cells = pending.popleft()
                self.attempts[group] += 1
                gen = task.remote(config_json, str(sweep.dir.parent), sweep.log_dir, sweep.device, cells, threads)
                running[gen] = (group, cells)
            ready, _ = ray.wait(list(running), num_returns=1)
            gen = ready[0]
            group, cells = running[gen]
            name = "/".join(map(str, group))
            try:
                out = ray.get(next(gen))
            except StopIteration:
                del running[gen]
                self.running.pop(group, None)
                continue
            except ray.exceptions.RayTaskError as ex:  # the cell's own code raised: not retried
                del running[gen]
                self.running.pop(group, None)
                failed[group] = f"{type(ex.cause).__name__}: {ex.cause}" if ex.cause else str(ex).splitlines()[0]
                sweep.say(f"group {name} failed: {failed[group]}")
                continue
            except ray.exceptions.RayError as ex:  # the worker died (killed, out of memory, node lost): retried
                del running[gen]
                self.running.pop(group, None)
                left = [c for c in cells if cell_key(c) not in written]
                why = str(ex).splitlines()[0]
                if self.attempts[group] > self.retries:
                    failed[group] = f"its worker died {self.attempts[group]} times ({why})"
                    sweep.say(f"group {name} failed: {failed[group]}")
                else:
                    sweep.say(f"group {name}: its worker died ({why}); retrying its {len(left)} cells left")
                    pending.appendleft((group, left))
                continue
            if "pid" in out:
                self.running[group] = out["pid"]
                sweep.say(f"group {name} runs on {out['host']} pid {out['pid']}")
            elif "skipped" in out:
                refused += 1
                sweep.say(f"skipping {name}: {out['reason']}")
            else:
                df = sweep.store(out)
                written.add(cell_key(out["cell"]))
                sweep._said(out["row"], len(written), total)
                if sweep.on_cell:
                    sweep.on_cell(out["row"])
        sweep.say(f"sweep {sweep.config.name}: {len(written)} cells in {time.perf_counter() - start:.0f} s -> "
                  f"{sweep.dir / 'results.parquet'}" + (f"; {refused} group(s) skipped (see above)" if refused else ""))
        if failed:
            raise RuntimeError(f"{len(failed)} group(s) failed, their finished cells kept (rerun to resume): "
                               + "; ".join(f"{'/'.join(map(str, g))}: {why}" for g, why in failed.items()))
        return df
