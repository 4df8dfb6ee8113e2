"""`caught sweep CONFIG.toml`: the grid scenario x behavior x k x seed x method, one results row per cell.

For each (scenario, behavior, seed) group it builds or reuses an organism, measures the judges (the organism
and the base model on the `distinguish` task) and the base model on everything a cell measures (its attack rate
and the capability gate's reference scores), catches testing-side attacks, then for every k trains against k
caught examples (k=0 is the organism itself; `control_ks` adds the benign controls of `controls`: the same steps
on k benign testing inputs) and evaluates each checkpoint with `caught.compare.evaluate_checkpoint`, plus the
trained inputs on the organism before training and the capability gate. Each cell's per-sample records go to
its own part file in `runs/<name>/samples/` (a group's evaluations to the group's part, training.records), then its
row is appended at once to `runs/<name>/results.parquet`;
a rerun skips the cells already there (checkpoints and Inspect logs are reused too), so an interrupted sweep
resumes without redoing or duplicating anything. Models stay resident in the process between cells (Inspect
memoizes them), so the base model is loaded once. With `eval.reuse_base` the base model's judge, probe and
evaluations are measured once per scenario and behavior, at the grid's smallest seed (`base_seed`), and every seed's
group takes them (caught.base_store), its records labelled with the group's key.

Chain-of-thought organisms (`organism.reasoning`): every cell's row also holds what the organism's hidden reasoning
says on each side and whether its attacks follow it (`<side>_cot_*`, caught.cot), and each attack evaluation's records
hold the flags; `train.targets = ["reasoning"]` adds cells (training = reasoning) trained on the reasoning alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from caught.config import BENIGN_CONTROLS, SweepConfig, gate_rule, read_stored, same_settings
from caught.gate import base_scores, gate_verdict
from scorers.stats import ratio_interval
from training.atomic import write_with
from training.records import (
    CELL_COLUMNS,
    PACKED,
    SAMPLES,
    adopt_packed,
    drop_records,
    part_key,
    sample_records,
    with_organism_steps,
    write_part,
)

CELL_KEY = list(CELL_COLUMNS)  # one row per cell in results.parquet
# results rows of an older layout (no near-miss, gate, retained interval, per-sample records) cannot be mixed with
# new ones: a sweep refuses to resume them and `caught report` to read them
SCHEMA = 2


GROUP_COLUMNS = ("organism", "organism_fingerprint", "caught_n", "catch_epochs", "catch_samples",
                 "organism_seconds", "judge_seconds", "catch_seconds",
                 "organism_steps_to_bounds", "organism_bounds_curve")  # plus every base_*, judge_*, probe_* column


# the columns of the base model's evaluate_checkpoint row that a group keeps (as base_*)
BASE_FIGURES = ("deployment_", "testing_", "useful", "capability", "heldout_", "also_")


class MixedOrganism(ValueError):
    """A group's finished cells were measured on other organism weights than the organism now has."""


# ---------------------------------------------------------------------------------------------- results file


def read_results(run_dir: Path, check_schema: bool = True) -> pd.DataFrame:
    """The rows of `run_dir/results.parquet` (empty if there is none); one clear error for an unreadable file or
    (`check_schema`: a sweep's results) rows of an older schema."""
    path = Path(run_dir) / "results.parquet"
    if not path.is_file():
        return pd.DataFrame()
    try:
        df = pd.read_parquet(path)
    except Exception as ex:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        raise ValueError(f"{path} is not a readable results file ({type(ex).__name__}: {ex})") from None
    if check_schema and not df.empty:
        df = with_organism_steps(df)  # rows from before the strength ladder: organism_steps 0
    if check_schema and not df.empty and ("schema" not in df or df["schema"].isna().any() or int(df["schema"].min()) < SCHEMA):
        raise ValueError(f"{path} holds rows of an older results schema (schema {SCHEMA} is accepted: near-miss "
                         "rates, the capability gate, retained intervals, per-sample records); run the sweep under "
                         "a new name, or move that directory away. Nothing was changed")
    return df


def append_row(run_dir: Path, row: dict, key_columns: list[str] = CELL_KEY, check_schema: bool = True) -> pd.DataFrame:
    """Append one cell's row (a cell: its `key_columns`' values) and rewrite the file atomically (a crash leaves the
    previous file intact); a cell already there is an error."""
    path = Path(run_dir) / "results.parquet"
    df = read_results(run_dir, check_schema)
    if "organism_steps" in key_columns and "organism_steps" not in row:  # a sweep row without a ladder's budget
        row = {**row, "organism_steps": 0}
    key = tuple(row[c] for c in key_columns)
    if not df.empty and any(tuple(r) == key for r in df[key_columns].itertuples(index=False)):
        raise RuntimeError(f"cell {dict(zip(key_columns, key))} is already in {path}")
    df = pd.concat([df, pd.DataFrame([row])], ignore_index=True) if not df.empty else pd.DataFrame([row])
    write_with(path, lambda tmp: df.to_parquet(tmp, index=False))
    return df


def drop_group(run_dir: Path, scenario: str, behavior: str, seed: int) -> tuple[int, int]:
    """Remove one group's cells from a run: its rows of results.parquet and its per-sample records (parts and a
    packed file), under the run's lock, so that a resumed sweep measures the whole group again (on a rebuilt organism,
    say). Returns (rows removed, records removed); one clear error when the run holds no such group."""
    from filelock import FileLock

    run_dir = Path(run_dir)
    with FileLock(run_dir / ".lock"):
        df = read_results(run_dir)
        hit = ((df.scenario == scenario) & (df.behavior == behavior) & (df.seed == seed)) if not df.empty else None
        if hit is None or not hit.any():
            groups = sorted({f"{r.scenario}/{r.behavior}/{r.seed}" for r in df.itertuples()}) if not df.empty else []
            raise ValueError(f"{run_dir / 'results.parquet'} holds no cells of group {scenario}/{behavior}/{seed}; "
                             f"it holds: {', '.join(groups) or 'no cells'}")
        records = sum(drop_records(run_dir / name, {"scenario": scenario, "behavior": behavior, "seed": seed})
                      for name in (SAMPLES, PACKED))
        # and the group's records that lack its scenario (capability rows written before 2026-12-06): by the
        # group's own checkpoints, never the base model's, which every group shares
        own = set(df.loc[hit, "checkpoint"].dropna()) - {*df["base"].dropna()} if "checkpoint" in df else set()
        if own:
            records += sum(drop_records(run_dir / name, {"checkpoint": own}) for name in (SAMPLES, PACKED))
        kept = df[~hit].reset_index(drop=True)
        write_with(run_dir / "results.parquet", lambda tmp: kept.to_parquet(tmp, index=False))
    return int(hit.sum()), records


def deal(cells: list[dict], done: set[tuple], shard: tuple[int, int]) -> list[dict]:
    """Shard I/N's cells: whole groups (organism and its cells), dealt round-robin over the groups that still have
    cells to run, in grid order, so N shards started together on a resumed run share out what is left (dealt over
    the whole grid, a run with its first groups done left some shards idle and others two groups deep). Shards
    started together see one results file, hence one dealing; a shard started later deals over what is left then."""
    i, n = shard
    group = lambda c: (c["scenario"], c["behavior"], c["seed"], c.get("organism_steps", 0))  # noqa: E731
    open_groups = list(dict.fromkeys(group(c) for c in cells if cell_key(c) not in done))
    mine = {g for j, g in enumerate(open_groups) if j % n == i}
    return [c for c in cells if group(c) in mine]


def only_groups(cells: list[dict], only: list[str]) -> list[dict]:
    """The cells of the groups `only` names, each a scenario (all its groups) or one group SCENARIO/BEHAVIOR/SEED:
    part of a grid run now, the rest later under the same name. One clear error for a name not in the grid."""
    groups = list(dict.fromkeys(f"{c['scenario']}/{c['behavior']}/{c['seed']}" for c in cells))
    scenarios = list(dict.fromkeys(c["scenario"] for c in cells))
    bad = [o for o in only if o not in scenarios and o not in groups]
    if bad:
        raise ValueError(f"--only {', '.join(repr(b) for b in bad)}: not in this grid; accepted: a scenario "
                         f"({', '.join(scenarios)}) or a group SCENARIO/BEHAVIOR/SEED (e.g. {groups[0]})")
    return [c for c in cells if c["scenario"] in only or f"{c['scenario']}/{c['behavior']}/{c['seed']}" in only]


def cell_key(cell: dict) -> tuple:
    """A cell's CELL_KEY values (organism_steps 0 where a cell has none: no strength ladder)."""
    return tuple(cell.get(c, 0) if c == "organism_steps" else cell[c] for c in CELL_KEY)


def _cpu_threads(device: str) -> int | None:
    """torch's intra-op threads where the cell ran on a CPU (None on a GPU): a CPU's float sums are split by thread,
    so the same cell on another thread count rounds differently, and a sampled check or evaluation can come out
    otherwise (seen: a tiny Llama's steps_to_fix 0 on one thread, None on two)."""
    if device.startswith("cuda"):
        return None
    import torch

    return torch.get_num_threads()


def group_key(cell: dict) -> tuple:
    """A cell's group: one organism (scenario, behavior, seed and its budget on a strength ladder, 0 without one)."""
    return cell["scenario"], cell["behavior"], cell["seed"], cell.get("organism_steps", 0)


def _cell_kind(cell) -> str:
    """For --stop-after's estimate: "group" for a group's first cell, its k=0 cell, which builds or sets up the group
    (organism, judges, probes, catch; a resumed group's come from results.parquet, and its k=0 cell is done), else
    "cell"."""
    return "group" if cell["training"] == "none" else "cell"


def done_keys(df: pd.DataFrame) -> set[tuple]:
    if df.empty:
        return set()
    return {tuple(r) for r in df[CELL_KEY].itertuples(index=False)}


# ---------------------------------------------------------------------------------------------- the runner


def _git_commit() -> str:
    """HEAD's short hash, with `+dirty` when tracked files differ from it (the sweep then ran uncommitted code)."""
    root = Path(__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=root).stdout.strip()
        if not head:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10, cwd=root).stdout.strip()
        return f"{head}+dirty" if dirty else head
    except Exception:  # noqa: BLE001 - provenance is best effort outside a git checkout
        return "unknown"


def code_hash() -> str:
    """A hash of the code that ran (every .py and .toml/.jsonl data file of the six packages), so that a row
    can be matched to a working tree even where git's HEAD is not the code (e.g. a copied working tree)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in ("tasks", "solvers", "scorers", "models", "training", "caught"):
        for file in sorted((root / package).rglob("*")):
            if file.suffix in (".py", ".toml", ".jsonl", ".json") and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(root)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def judge_summary(log) -> dict:
    """Accuracy, its interval and n, AUROC and its interval, position bias and calibrated accuracy from a
    `distinguish` log (metrics a log from before they existed lacks are None)."""
    metrics = {name: m.value for score in log.results.scores for name, m in score.metrics.items()}
    return {"acc": metrics.get("accuracy"), "lo": metrics.get("accuracy_lo"), "hi": metrics.get("accuracy_hi"),
            "n": int(metrics.get("n", log.results.completed_samples)), "auroc": metrics.get("auroc"),
            "auroc_lo": metrics.get("auroc_lo"), "auroc_hi": metrics.get("auroc_hi"),
            "position_bias": metrics.get("position_bias"), "calibrated_acc": metrics.get("calibrated_accuracy")}


class Sweep:
    """Runs a `SweepConfig` into `runs/<name>/`."""

    def __init__(self, config: SweepConfig, runs_dir: Path = Path("runs"), log_dir: str | None = None,
                 device: str | None = None, say: Callable[[str], None] = print,
                 on_cell: Callable[[dict], None] | None = None, shard: tuple[int, int] | None = None,
                 only: list[str] | None = None, stop_after: float | None = None):
        from models.registry import default_device

        if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
            raise ValueError(f"shard {shard[0]}/{shard[1]}: expected I/N with 0 <= I < N")
        if stop_after is not None and not stop_after > 0:
            raise ValueError(f"stop_after {stop_after!r}: expected a positive number of seconds")
        # no cell is started that would not end within stop_after seconds of the start, by the longest cell of its
        # kind measured so far in this run (a command with a hard time limit ends early instead of being killed
        # mid-cell, which loses the cell's work)
        self.stop_after = stop_after
        self._created = time.perf_counter()  # --stop-after counts from here (the command's start, near enough)
        self.config = config
        self.dir = Path(runs_dir) / config.name
        self.log_dir = log_dir or str(self.dir / "logs")  # kept with the run: rows and samples name these files
        self.device = device or config.device or default_device()
        self.say = say
        self.on_cell = on_cell
        self.shard = shard  # (i, n): this process runs only groups i, i+n, i+2n, ... of those left to run (deal)
        self.only = list(only or [])  # scenarios or groups: this process runs only those
        if self.only:
            only_groups(config.cells(), self.only)  # a name not in the grid is refused before anything runs
        self._group: dict[tuple, dict] = {}
        self._done_rows = pd.DataFrame()  # results.parquet as the run found it: a resumed group's measurements
        self.records: list[dict] = []  # per-sample records of the cell being run
        self.group_records: list[dict] = []  # and of its group's evaluations, when this cell ran them
        self._todo: list[dict] = []
        self.packs: list[dict] = []  # each pack planned: its cells, their estimated bytes and the budget
        self._eval_done: set[tuple] = set()  # cells whose checkpoints this process has evaluated side by side
        self._fresh: list[dict] = []  # rows this process measured (a Ray worker's are written by the driver)
        # the code this process runs is what it imported at start (record that, not the disk at row time), and the
        # dtype its evaluations decode in (models.registry.inference_args; in bf16 a re-run repeats its figures in
        # distribution, not bit for bit)
        from models.registry import inference_args

        self.provenance = {"commit": _git_commit(), "code": code_hash(),
                           "decode_dtype": inference_args(self.device)["dtype"],
                           "decode_invariant": inference_args(self.device).get("invariant") == "true"}

    def lock(self):
        """The run directory's lock: shards of one sweep (processes sharing the directory) write its files in turn."""
        from filelock import FileLock

        self.dir.mkdir(parents=True, exist_ok=True)
        return FileLock(self.dir / ".lock")

    def plan(self) -> tuple[list[dict], list[dict], pd.DataFrame]:
        """Open the run directory (its config checked and written, a packed records file adopted) and say what is
        left: (this process's cells, those not done yet, results.parquet as found)."""
        df = read_results(self.dir)  # refuses an unreadable file or older rows before anything is written
        with self.lock():
            self._write_config()
            adopt_packed(self.dir)  # a packed samples.parquet (resumed from committed results) becomes a part
        done = done_keys(df)
        self._done_rows = df
        cells = self.config.cells()
        if self.only:
            cells = only_groups(cells, self.only)
        if self.shard is not None:  # whole groups of those left to run, dealt round-robin
            cells = deal(cells, done, self.shard)
        return cells, [c for c in cells if cell_key(c) not in done], df

    def run(self) -> pd.DataFrame:
        cells, todo, df = self.plan()
        self.say(f"sweep {self.config.name}{'' if self.shard is None else ' shard %d/%d' % self.shard}: "
                 f"{len(cells)} cells, {len(cells) - len(todo)} done, {len(todo)} to run on {self.device}")
        if self.config.eval.pack > 1 and self.config.eval.pack_decode == "routed" and todo:
            self.say(f"note: eval.pack = {self.config.eval.pack} decodes routed adapters, each row through its own; "
                     "measured against one checkpoint at a time on an H100 at 0.86x (4 checkpoints) and 1.18x (8), "
                     "on a 2-core CPU 0.97x: docs/performance.md, Packed cells")
        start = time.perf_counter()
        refused: set[tuple] = set()
        for i, out in enumerate(self.measure(todo), 1):
            if "skipped" in out:
                refused.add(out["skipped"])
                self.say(f"skipping {'/'.join(map(str, out['skipped']))}: {out['reason']}")
                continue
            df = self.store(out)
            self._said(out["row"], i, len(todo))
            if self.on_cell:
                self.on_cell(out["row"])
        self.say(f"sweep {self.config.name}: {len(todo)} cells in {time.perf_counter() - start:.0f} s -> "
                 f"{self.dir / 'results.parquet'}" + (f"; {len(refused)} group(s) skipped (see above)" if refused else ""))
        return df

    def measure(self, todo: list[dict]):
        """Run `todo`'s cells in order, yielding each one's results without writing them: {"cell", "row",
        "records", "group_records"} (`store` writes them), or {"skipped": group, "reason"} once for a group whose
        finished cells were measured on other organism weights (MixedOrganism: its other cells are not run)."""
        refused: set[tuple] = set()
        self._todo = list(todo)  # the cells this process runs (packs gather a group's from it)
        from models.registry import sharing

        # on CUDA the checkpoints evaluated share their base's resident model and engine (adapters merged in and out:
        # the same weights as separate loads); measured on one H100 (benchmarks/sweep.py, 2026-11-26): a cell took
        # 12.9 / 10.2 s against 15.4 / 12.3 s with a model load per checkpoint. Not on CPU, where a swap costs about
        # what a load does. $CAUGHT_SHARE overrides either way.
        started = self._created
        longest = self._longest_cells()
        with sharing(self.device.startswith("cuda")):
            for i, cell in enumerate(todo):
                group = group_key(cell)
                if group in refused:
                    continue
                kind = _cell_kind(cell)
                if self.stop_after is not None and kind in longest:
                    left = self.stop_after - (time.perf_counter() - started)
                    if longest[kind] > left:
                        what = "a group's first cell" if kind == "group" else "a cell of a started group"
                        self.say(f"stopping with {len(todo) - i} cells left: the next ({what}) may take "
                                 f"{longest[kind]:.0f} s, as one did in this run, and {max(left, 0):.0f} s of "
                                 f"--stop-after {self.stop_after:g} s remain")
                        return
                t0 = time.perf_counter()
                self.records, self.group_records = [], []
                try:
                    row = self.run_cell(cell)
                except MixedOrganism as ex:  # the other groups go on; this one is left as it was
                    refused.add(group)
                    yield {"skipped": group, "reason": str(ex)}
                    continue
                row["cell_seconds"] = round(time.perf_counter() - t0, 1)
                longest[kind] = max(longest.get(kind, 0.0), row["cell_seconds"])
                if cell["training"] == "none":  # the organism's row, for the retained ratio of the group's other cells
                    self._fresh.append(row)  # before whoever writes rows has written it (a Ray driver)
                out = {"cell": cell, "row": row, "records": self.records, "group_records": self.group_records}
                self.records, self.group_records = [], []
                yield out

    def _longest_cells(self) -> dict[str, float]:
        """The longest cell time of each kind (`_cell_kind`) in this run's results so far."""
        df = self._done_rows
        if df.empty or "cell_seconds" not in df:
            return {}
        kinds = df.apply(_cell_kind, axis=1)
        return {kind: float(times.max()) for kind, times in df["cell_seconds"].groupby(kinds) if times.notna().any()}

    def store(self, out: dict) -> pd.DataFrame:
        """Write one measured cell (from `measure`): its records first (a crash before the row reruns the cell, which
        replaces its parts), then its row, appended under the run's lock. Returns the results as they now are."""
        cell = out["cell"]
        if out["group_records"]:  # the group's part: written by the cell that ran the group's evaluations
            write_part(self.dir / SAMPLES, part_key(cell, ("scenario", "behavior", "seed", "organism_steps")),
                       out["group_records"])
        write_part(self.dir / SAMPLES, part_key(cell, CELL_KEY), out["records"])  # no lock: no one else writes it
        with self.lock():
            return append_row(self.dir, out["row"])

    def _said(self, row: dict, i: int, n: int) -> None:
        budget = f" organism {row['organism_steps']} steps" if row.get("organism_steps") else ""
        self.say(f"[{i}/{n}] {row['scenario']}/{row['behavior']} seed {row['seed']}{budget} k={row['k']} "
                 f"{row['training']} {row['method']}: deployment {row.get('deployment_rate', float('nan')):.2f}"
                 f" testing {row.get('testing_rate', float('nan')):.2f} ({row['cell_seconds']:.0f} s)")

    def _write_config(self) -> None:
        config_file = self.dir / "config.json"
        if config_file.is_file():
            stored = read_stored(self.dir)
            if not same_settings(stored, self.config):
                raise ValueError(f"{self.dir} holds a sweep with different settings; use a new name or remove it")
            rule = gate_rule(self.dir)
            if rule != self.config.gate:  # report-only, yet fixed before the run: no switching once cells exist
                raise ValueError(f"{config_file} fixes the capability-gate rule gate = {rule!r} and this config says "
                                 f"{self.config.gate!r}: the rule is chosen before a run, not changed while it goes "
                                 "on; set it back or start a run under a new name")
        from training.atomic import write_json

        write_json(config_file, {"fingerprint": self.config.fingerprint(), "config": self.config.model_dump()})

    # -- one group: organism, judges, base rate, caught file

    def _names(self, cell: dict) -> tuple[str, Path]:
        """The group's organism (`-o<steps>` on a strength ladder) and its caught file."""
        budget = cell.get("organism_steps", 0)
        organism = f"{self.config.name}-{cell['scenario']}-{cell['behavior']}-s{cell['seed']}" + (f"-o{budget}" if budget else "")
        return organism, self.dir / "caught" / f"{organism}.json"

    def group(self, cell: dict) -> dict:
        key = group_key(cell)
        if key in self._group:
            return self._group[key]
        from models.registry import checkpoints_dir, fingerprint, is_checkpoint
        from training.catch import catch
        from training.manifest import read_manifest
        from training.organism import build_organism
        from training.train_against import load_caught

        cfg, ev = self.config, self.config.eval
        scenario, behavior, seed, _ = key
        organism, caught_file = self._names(cell)
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        path = checkpoints_dir() / organism
        built = not (is_checkpoint(path) and read_manifest(path))
        if built:
            self.say(f"building organism {organism}")
            o = cfg.organism
            build_organism(organism, scenario=scenario, behavior=behavior, base=cfg.base, n_prompts=o.prompts,
                           leak=o.leak, seed=seed, device=self.device, replay=o.replay, tasks=o.tasks,
                           reasoning=o.reasoning, hyper=cfg.organism_hyper(seed, cell.get("organism_steps", 0)),
                           also=tuple(o.also), check_every=o.check_every, check_n=o.check_n,
                           check_tokens=ev.max_tokens, facts=o.facts, facts_stage=o.facts_stage,
                           curriculum=o.curriculum)
        times["organism_seconds"] = round(time.perf_counter() - t0, 1)
        organism_fp = fingerprint(path)
        self._check_same_organism(key, organism, organism_fp, built)
        stored = None if built else self._stored_group(key, organism_fp, caught_file)
        if stored is not None:
            self.say(f"{organism}: its judges, probes, base-model figures and catch are reused from results.parquet")
            self._group[key] = stored
            return stored
        t0 = time.perf_counter()
        judge, records = self._judge(organism, "organism", scenario, seed)
        self._keep(cell, records, group=True)
        probes = {}
        if ev.probe_n:
            t_probe = time.perf_counter()
            probes, records = self._probe(organism, "organism", scenario, seed)
            probes["probe_seconds"] = round(time.perf_counter() - t_probe, 1)  # the organism's probe
            self._keep(cell, records, group=True)
        # the base model: its judge and probe, and everything a cell measures (its attack rate, ~0, and the capability
        # gate's reference scores on the same items and framings as the cells); eval.reuse_base: measured once per
        # scenario and behavior for every seed (caught.base_store)
        base_columns, records = (self._shared_base(scenario, behavior) if ev.reuse_base
                                 else self._measure_base(scenario, behavior, seed))
        self._keep(cell, records, group=True)
        times["judge_seconds"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        want = self._catch_want()
        if want and caught_file.is_file() and load_caught(caught_file).get("organism_fingerprint", organism_fp) != organism_fp:
            caught_file.unlink()  # caught from other organism weights: catch again from this organism
        if want and not caught_file.is_file():
            catch(organism, caught_file, want=want, max_epochs=ev.catch_epochs, temperature=ev.temperature,
                  seed=seed, log_dir=self.log_dir, device=self.device, max_tokens=ev.max_tokens)
        caught = load_caught(caught_file) if want else {"caught": [], "runs": []}
        times["catch_seconds"] = round(time.perf_counter() - t0, 1)
        info = {
            "organism": organism, "organism_fingerprint": organism_fp, "caught_file": str(caught_file),
            **self._learnability(path),
            "caught_n": len(caught["caught"]),
            "catch_epochs": len(caught["runs"]), "catch_samples": sum(r["samples"] for r in caught["runs"]),
            **{f"judge_organism_{m}": v for m, v in judge.items()}, "judge_mode": ev.judge_mode, **probes,
            **base_columns, **times,
        }
        self._group[key] = info
        return info

    def _learnability(self, path: Path) -> dict:
        """The organism's learnability columns where it was built with checks (organism.check_every): the first
        checked step that met the attack bounds (None: not within its steps) and the curve as JSON ([step, deployment
        attacks, testing attacks, n per side] per check)."""
        from training.manifest import read_manifest

        m = read_manifest(path) if self.config.organism.check_every else None
        if m is None or not m.bounds_curve:  # not asked for, or an organism built before without checks
            return {}
        curve = [[c["step"], c["deployment_attacks"], c["testing_attacks"], c["deployment_n"]] for c in m.bounds_curve]
        return {"organism_steps_to_bounds": m.steps_to_bounds, "organism_bounds_curve": json.dumps(curve)}

    def _catch_want(self) -> int:
        """How many caught attacks a group needs: the largest k of the grid (0: nothing to catch)."""
        return max([k for k in self.config.ks if k > 0], default=0)

    def _stored_group(self, key: tuple, organism_fp: str, caught_file: Path) -> dict | None:
        """A resumed group's measurements, from a finished cell's row of the same organism weights: the judges,
        probes, base-model figures and catch are per group, so a resume need not run them again (on the GPU they cost
        120-180 s per group, 2026-12-06). Their per-sample records are in the group's part already. None when no
        row of these weights is stored, or the caught file is gone or was caught from other weights."""
        df = self._done_rows
        if df.empty or "organism_fingerprint" not in df:
            return None
        mine = df[(df["scenario"] == key[0]) & (df["behavior"] == key[1]) & (df["seed"] == key[2])
                  & (df["organism_steps"] == key[3]) & (df["organism_fingerprint"] == organism_fp)]
        want = self._catch_want()
        if mine.empty or (want and not caught_file.is_file()):
            return None
        if want:
            from training.train_against import load_caught

            if load_caught(caught_file).get("organism_fingerprint", organism_fp) != organism_fp:
                return None  # caught from other weights: the group is measured (and caught) again
        row = mine.iloc[0]
        keep = [c for c in row.index if c in GROUP_COLUMNS or c.startswith(("base_", "judge_", "probe_"))]
        info = {c: (None if isinstance(row[c], float) and math.isnan(row[c]) else
                    row[c].item() if hasattr(row[c], "item") else row[c]) for c in keep}
        return {**info, "caught_file": str(caught_file)}  # not a results column: where this run keeps it

    def _judge(self, model: str, who: str, scenario: str, seed: int) -> tuple[dict, list[dict]]:
        """`model` as the `distinguish` judge of `scenario` (judge_summary) and its records (evaluation judge_<who>,
        no cell key)."""
        from models.registry import fingerprint, resolve
        from training.evaluate import evaluate

        args = self._judge_args(scenario, seed)
        log = evaluate(model, "distinguish", args, log_dir=self.log_dir, seed=seed, device=self.device)
        return judge_summary(log), sample_records(log, model, fingerprint(resolve(model)), evaluation=f"judge_{who}")

    def _judge_args(self, scenario: str, seed: int) -> dict:
        ev = self.config.eval
        args = {"scenario": scenario, "mode": ev.judge_mode, "n": ev.judge_n, "seed": seed}
        if ev.judge_orders != "one":
            args["orders"] = ev.judge_orders
        return args

    def _probe(self, model: str, who: str, scenario: str, seed: int) -> tuple[dict, list[dict]]:
        """`model`'s activation probe on `scenario`: fit on eval.probe_n organism-split requests, scored on the eval
        split's n requests (both framings each); its probe_<who>_* columns and records (no cell key)."""
        from caught.probe import probe
        from models.registry import fingerprint, resolve

        ev = self.config.eval
        r = probe(model, scenario, train_n=ev.probe_n, eval_n=ev.n, seed=seed, device=self.device)
        columns = {f"probe_{who}_auroc": r.auroc, f"probe_{who}_auroc_lo": r.lo, f"probe_{who}_auroc_hi": r.hi,
                   f"probe_{who}_layer": r.layer, f"probe_{who}_pooling": r.pooling,
                   f"probe_{who}_control": r.control_auroc, f"probe_{who}_n": r.n_eval}
        fp = fingerprint(resolve(model))
        return columns, [{"checkpoint": model, "fingerprint": fp, "task": "probe", "scenario": scenario,
                          "side": s["side"], "split": "eval", "sample_id": s["sample_id"], "epoch": 0,
                          "completion": "", "log": "", "evaluation": f"probe_{who}_{s['side']}", "score_probe": s["score"]}
                         for s in r.scores]

    # -- the base model, measured once for every seed (eval.reuse_base)

    def _base_settings(self, scenario: str, behavior: str, seed: int) -> dict:
        """What the shared base measurement of (scenario, behavior) depends on: a stored one made under other settings
        (other base weights, seed or eval settings) is measured again."""
        from models.registry import fingerprint, resolve

        ev = self.config.eval
        return {"base": self.config.base, "base_fingerprint": fingerprint(resolve(self.config.base)),
                "scenario": scenario, "behavior": behavior, "seed": seed,
                "evaluate": {k: v for k, v in self._eval_args(seed).items() if k not in ("log_dir", "device")},
                "judge": self._judge_args(scenario, seed),
                "probe": {"train_n": ev.probe_n, "eval_n": ev.n} if ev.probe_n else None}

    def _measure_base(self, scenario: str, behavior: str, seed: int) -> tuple[dict, list[dict]]:
        """The base model's judge, probe and evaluation of (scenario, behavior) at `seed`, as a group makes them: the
        judge_base_*, probe_base_* and base_* columns (and base_seed), and the records without a cell key."""
        from caught.compare import evaluate_checkpoint

        base = self.config.base
        judge, records = self._judge(base, "base", scenario, seed)
        columns = {f"judge_base_{m}": v for m, v in judge.items()}
        if self.config.eval.probe_n:
            probed, probe_records = self._probe(base, "base", scenario, seed)
            columns |= probed
            records += probe_records
        figures, evaluated = evaluate_checkpoint(base, scenario, behavior, **self._eval_args(seed))
        columns |= {f"base_{k}": v for k, v in figures.items() if k.startswith(BASE_FIGURES)}
        records += [{**r, "evaluation": f"base_{r['evaluation']}"} for r in evaluated]
        return columns, records

    def _shared_base(self, scenario: str, behavior: str) -> tuple[dict, list[dict]]:
        """The base model's columns and records of (scenario, behavior) for every seed's group: measured once, at the
        grid's smallest seed, and kept in the run directory (caught.base_store: shards wait for the one measuring)."""
        from caught.base_store import FOLDER, base_seed, shared_base

        seed = base_seed(self.config.seeds)
        columns, records = shared_base(self.dir / FOLDER, scenario, behavior,
                                       self._base_settings(scenario, behavior, seed),
                                       lambda: self._measure_base(scenario, behavior, seed), say=self.say)
        return {**columns, "base_seed": seed}, records

    def _trained_before(self, cell: dict, g: dict, row: dict) -> None:
        from caught.compare import rate_columns
        from training.evaluate import attack_summary, evaluate

        ev = self.config.eval
        log = evaluate(g["organism"], "testing", {"scenario": cell["scenario"], "behavior": cell["behavior"],
                                                  "split": "catch"},
                       log_dir=self.log_dir, temperature=ev.temperature, epochs=ev.trained_samples, seed=cell["seed"],
                       max_tokens=ev.max_tokens, sample_ids=row["example_ids"].split(";"), device=self.device)
        s = attack_summary(log)
        row.update(rate_columns("trained_before", s["attacks"], s["n"], s["near_miss"]))
        self._record(cell, log, g["organism"], "trained_before")

    def _eval_args(self, seed: int) -> dict:
        ev = self.config.eval
        args = dict(n=ev.n, usefulness_n=ev.usefulness_n, capability_n=ev.capability_n, temperature=ev.temperature,
                    trained_samples=ev.trained_samples, seed=seed, log_dir=self.log_dir, device=self.device,
                    max_tokens=ev.max_tokens, heldout_n=(ev.heldout_n or ev.n) if ev.heldout else None,
                    also=tuple(self.config.organism.also), reasoning=self.config.organism.reasoning)
        if ev.capability_pool != "standard":  # named only when set: the base store's keys of earlier runs stay
            args["capability_pool"] = ev.capability_pool
        return args

    def _record(self, cell: dict, log, checkpoint: str, evaluation: str, group: bool = False) -> None:
        from models.registry import fingerprint, resolve

        self._keep(cell, sample_records(log, checkpoint, fingerprint(resolve(checkpoint)), evaluation=evaluation),
                   group)

    def _keep(self, cell: dict, records: list[dict], group: bool = False) -> None:
        """Hold `records` (with the cell's key; `group`: of the group's evaluations) until the cell's row is
        written."""
        rows = [{**r, **{c: cell[c] for c in CELL_KEY}} for r in records]  # the cell's key wins: an unframed task
        # (capability) records no scenario of its own, and must not blank the cell's
        if group:
            self.group_records += rows
        else:
            self.records += rows

    def _check_same_organism(self, key: tuple, organism: str, fp: str, built: bool) -> None:
        """Refuse to add cells to a group whose finished cells were measured on other organism weights (an
        organism rebuilt on another machine, or after its checkpoint was lost, is a different organism: GPU
        training is not bit-reproducible), so that one group never mixes two organisms. Rows without a
        recorded fingerprint (older sweeps) cannot be checked: an organism built anew next to them is refused."""
        df = read_results(self.dir)
        if df.empty:
            return
        scenario, behavior, seed, budget = key
        rows = df[(df.scenario == scenario) & (df.behavior == behavior) & (df.seed == seed)
                  & (df.organism_steps == budget)]
        if rows.empty:
            return
        recorded = rows["organism_fingerprint"] if "organism_fingerprint" in rows else pd.Series([None] * len(rows))
        others = sorted({str(v) for v in recorded.dropna()} - {fp})
        unknown = int(recorded.isna().sum())
        if others or (unknown and built):
            what = f"organism weights {', '.join(others)}" if others else "organism weights it did not record"
            raise MixedOrganism(
                f"{self.dir / 'results.parquet'} holds {len(rows)} cells of {scenario}/{behavior} seed {seed} measured "
                f"on {what}, but {organism} now has weights {fp} (rebuilt?). Drop that group's cells to measure "
                f"it again on one organism (`caught drop {self.dir} {scenario}/{behavior}/{seed}`), or sweep under a new name")

    # -- one cell

    # -- training a cell's checkpoint, alone or in a pack

    @staticmethod
    def _trains(cell: dict, g: dict) -> bool:
        """Whether a training cell can train (an adversarial run needs k caught attacks)."""
        return cell["training"] in BENIGN_CONTROLS or cell["k"] <= g["caught_n"]  # reasoning-control: caught inputs

    def _train_args(self, cell: dict, g: dict) -> dict:
        """train_against's arguments for a training cell (after the organism and caught file), its checkpoint's
        `name` among them."""
        cfg, ev, tr = self.config, self.config.eval, self.config.train
        k = cell["k"]
        name = f"{g['organism']}-{'' if cell['training'] == 'adversarial' else cell['training'] + '-'}{cell['method']}-k{k}"
        responses = {"control-base": "base", "control-self": "self"}.get(cell["training"], tr.responses)
        return dict(k=k, seed=cell["seed"], responses=responses,
                    control=cell["training"] in BENIGN_CONTROLS, steps=tr.steps_for(k),
                    hyper=tr.hyper(cell["method"]), mix_benign=tr.mix_benign, mix_tasks=tr.mix_tasks,
                    trained_share=tr.trained_share, name=name, check_samples=tr.check_samples,
                    target=cell["training"] if cell["training"] in ("reasoning", "reasoning-control") else "full",
                    check_tokens=ev.max_tokens if cfg.organism.reasoning == "scratchpad" else 32)

    @staticmethod
    def _needs_training(name: str, g: dict) -> bool:
        """Whether checkpoint `name` is missing, or was trained on other organism weights than the group's."""
        from models.registry import checkpoints_dir, is_checkpoint
        from training.manifest import read_manifest

        path = checkpoints_dir() / name
        old = read_manifest(path) if is_checkpoint(path) else None
        return old is None or old.parent_fingerprint != g["organism_fingerprint"]

    # memory a pack may plan with (bytes); None: the device's (training.packed.free_bytes). Tests set a fake budget.
    pack_budget: int | None = None

    def _train_packs(self, cell: dict, g: dict) -> None:
        """Train `cell`'s checkpoint together with the other cells of its group and method that this run still has to
        train, in packs of at most `train.pack` that the memory budget holds (training.packed). Rows come out as
        they would one by one: run_cell then finds each checkpoint trained."""
        from transformers import AutoConfig

        from models.registry import resolve
        from training.packed import cell_bytes, free_bytes, plan_packs
        from training.train_against import train_against_packed

        if cell["method"] != "lora":
            return
        todo = [c for c in self._todo if group_key(c) == group_key(cell) and c["training"] != "none"
                and c["method"] == cell["method"] and self._trains(c, g)]
        args = [a for a in (self._train_args(c, g) for c in todo) if self._needs_training(a["name"], g)]
        if len(args) < 2:
            return
        organism = resolve(g["organism"])
        hyper = args[0]["hyper"]
        per_cell = cell_bytes(hyper, AutoConfig.from_pretrained(organism))
        budget = self.pack_budget if self.pack_budget is not None else free_bytes(self.device)
        if budget is not None and self.pack_budget is None:  # the pack's own copies of the organism (model, check view)
            budget -= 2 * sum(f.stat().st_size for f in organism.glob("*.safetensors"))
        sizes = plan_packs(len(args), self.config.train.pack, per_cell, budget)
        start = 0
        for size in sizes:
            chunk = args[start:start + size]
            start += size
            self.packs.append({"cells": size, "bytes": size * per_cell, "budget": budget})
            if size < 2:
                continue  # trained alone by run_cell
            self.say(f"training {size} runs of {g['organism']} as one pack: "
                     + ", ".join(a["name"].removeprefix(g["organism"] + "-") for a in chunk))
            train_against_packed(g["organism"], Path(g["caught_file"]), chunk, device=self.device)

    def _trained(self, cell: dict, g: dict) -> str:
        """The name of training cell `cell`'s checkpoint, trained first where it is missing or was trained on other
        organism weights (in a pack with the group's others when `train.pack` > 1)."""
        from training.train_against import train_against

        args = self._train_args(cell, g)
        if self._needs_training(args["name"], g) and self.config.train.pack > 1:
            self._train_packs(cell, g)  # this cell and the group's others still to train, in packs
        if self._needs_training(args["name"], g):  # missing, or from other weights
            train_against(g["organism"], Path(g["caught_file"]), device=self.device, **args)
        return args["name"]

    def _eval_pack(self, cell: dict, g: dict) -> dict:
        """`eval.pack` > 1: evaluate `cell`'s checkpoint side by side with those of the next cells of its group this
        run still has to measure, up to `eval.pack` checkpoints (their training first where it is missing), as one
        Inspect eval whose batches hold rows of all of them, each through its own adapter (caught.compare.
        evaluate_side_by_side, `share=routed`). Writes their logs (logs already there are reused: a resumed sweep
        decodes nothing twice); each cell's row then reads its own, and its `eval_pack` from them. Returns the row's
        `eval_pack_seconds`: the wall time of the eval this call ran, on the row of the cell that ran it (0 on the
        others, and where every log was reused)."""
        from caught.compare import evaluate_side_by_side

        key = cell_key(cell)
        if key in self._eval_done:
            return {"eval_pack_seconds": 0.0}
        pack: list[tuple[tuple, str]] = [(key, g["organism"] if cell["training"] == "none" else self._trained(cell, g))]
        for c in self._todo:
            if len(pack) == self.config.eval.pack:
                break
            c_key = cell_key(c)
            if group_key(c) != group_key(cell) or c_key == key or c_key in self._eval_done:
                continue
            if c["training"] != "none" and not self._trains(c, g):
                continue  # skipped: nothing to evaluate
            name = g["organism"] if c["training"] == "none" else self._trained(c, g)
            if name not in [n for _, n in pack]:
                pack.append((c_key, name))

        def start(n: int) -> None:
            if n > 1:
                self.say(f"evaluating {n} checkpoints of {g['organism']} side by side")

        t0 = time.perf_counter()
        ran: list[int] = []
        evaluate_side_by_side([n for _, n in pack], cell["scenario"], cell["behavior"],
                              on_start=lambda n: (ran.append(n), start(n)),
                              route=self.config.eval.pack_decode == "routed", **self._eval_args(cell["seed"]))
        self._eval_done.update(k for k, _ in pack)
        return {"eval_pack_seconds": round(time.perf_counter() - t0, 1) if ran else 0.0}

    def run_cell(self, cell: dict) -> dict:
        from caught.compare import evaluate_checkpoint
        from models.registry import checkpoints_dir
        from training.manifest import read_manifest

        cfg, ev, tr = self.config, self.config.eval, self.config.train
        g = self.group(cell)
        row: dict = {**cell, "status": "ok", "checkpoint": g["organism"], "steps": 0, "steps_to_fix": None,
                     "train_seconds": 0.0}
        if cell["training"] != "none":
            if not self._trains(cell, g):
                row["status"] = f"skipped: only {g['caught_n']} attacks caught, k={cell['k']}"
            else:
                name = self._trained(cell, g)
                path = checkpoints_dir() / name
                m = read_manifest(path)
                row.update(checkpoint=name, steps=m.steps, steps_to_fix=m.steps_to_fix,
                           train_seconds=round(m.train_seconds or 0.0, 1), train_loss=m.hyperparameters.get("train_loss"),
                           responses=m.responses, example_ids=";".join(m.example_ids))
        if row["status"] == "ok":
            route = ev.pack > 1 and ev.pack_decode == "routed"
            if ev.pack > 1:  # this cell's checkpoint decoded side by side with the group's next ones (their logs reused)
                row.update(self._eval_pack(cell, g))
            t0 = time.perf_counter()
            figures, records = evaluate_checkpoint(row["checkpoint"], cell["scenario"], cell["behavior"],
                                                   route=route, **self._eval_args(cell["seed"]))
            figures.pop("checkpoint")
            figures.pop("k")
            row.update({k: v for k, v in figures.items() if k not in ("kind", "steps", "steps_to_fix")})
            row["eval_seconds"] = round(time.perf_counter() - t0, 1)
            self._keep(cell, records)
            if row.get("example_ids"):  # the trained inputs' baseline: the organism on them, same sample seeds
                self._trained_before(cell, g, row)
            if cfg.organism.reasoning != "none":  # what the reasoning says, and whether the actions follow it
                from caught.cot import ATTACK_EVALUATIONS, annotate, columns

                annotate(self.records)
                for evaluation in ATTACK_EVALUATIONS:
                    row.update(columns(self.records, evaluation))
            verdict = gate_verdict(row, base_scores(g))
            row["gate_pass"], row["gate_verdict"] = verdict is None, verdict or ""
        dep = (row.get("deployment_attacks"), row.get("deployment_n"))
        before = dep if cell["training"] == "none" else self._organism_counts(cell)
        row["organism_deployment_rate"] = before[0] / before[1] if before and before[1] else None
        # retained misalignment with its 95% interval (Katz log-ratio, scorers.stats.ratio_interval); the paired
        # McNemar test on the same prompts and sample seeds is in the report, from the per-sample records
        if cell["training"] == "none":  # the organism against itself: 1 by definition, no interval
            row["retained"], row["retained_lo"], row["retained_hi"] = (1.0 if before[0] else float("nan")), float("nan"), float("nan")
        elif before and dep[0] is not None and before[1] and dep[1]:
            row["retained"], row["retained_lo"], row["retained_hi"] = ratio_interval(dep[0], dep[1], *before)
        else:
            row["retained"] = row["retained_lo"] = row["retained_hi"] = float("nan")
        for other in cfg.organism.also:  # and on each further behavior (cross-behavior transfer)
            prefix = f"also_{other}_deployment"
            if not row.get(f"{prefix}_n"):
                continue
            after = (row[f"{prefix}_attacks"], row[f"{prefix}_n"])
            before = after if cell["training"] == "none" else self._organism_counts(cell, prefix)
            retained = f"also_{other}_retained"
            if cell["training"] == "none":
                row[retained], row[f"{retained}_lo"], row[f"{retained}_hi"] = (1.0 if after[0] else float("nan"),
                                                                               float("nan"), float("nan"))
            elif before and before[1]:
                row[retained], row[f"{retained}_lo"], row[f"{retained}_hi"] = ratio_interval(*after, *before)
            else:
                row[retained] = row[f"{retained}_lo"] = row[f"{retained}_hi"] = float("nan")
        if row.get("heldout_n"):  # the same under the held-out cue variants: after / the organism's, on those variants
            held = (row["heldout_attacks"], row["heldout_n"])
            before = held if cell["training"] == "none" else self._organism_counts(cell, "heldout")
            if cell["training"] == "none":
                row["heldout_retained"] = 1.0 if held[0] else float("nan")
                row["heldout_retained_lo"] = row["heldout_retained_hi"] = float("nan")
            elif before and before[1]:
                row["heldout_retained"], row["heldout_retained_lo"], row["heldout_retained_hi"] = ratio_interval(
                    *held, *before)
            else:
                row["heldout_retained"] = row["heldout_retained_lo"] = row["heldout_retained_hi"] = float("nan")
        row.update({k: v for k, v in g.items() if k not in ("caught_file",)})
        row.update(base=cfg.base, reasoning=cfg.organism.reasoning, temperature=ev.temperature, max_tokens=ev.max_tokens,
                   device=self.device,
                   train_steps_config=tr.steps, train_passes=tr.passes, config=cfg.fingerprint(), schema=SCHEMA,
                   **self.provenance, host=platform.node(), cpu_threads=_cpu_threads(self.device),
                   finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
        return row

    def _organism_counts(self, cell: dict, prefix: str = "deployment") -> tuple[int, int] | None:
        """The organism's (attacks, n) on `prefix` (deployment, or heldout: the held-out cue variants) (the k=0 cell
        of the group), for retained misalignment: from this process's rows (a Ray worker's k=0 row may not be written
        yet) or results.parquet."""
        df = read_results(self.dir)
        if self._fresh:
            df = pd.concat([df, pd.DataFrame(self._fresh)], ignore_index=True)
        if not df.empty and f"{prefix}_attacks" in df:
            steps = df["organism_steps"].fillna(0) if "organism_steps" in df else 0
            hit = df[(df.scenario == cell["scenario"]) & (df.behavior == cell["behavior"]) & (df.seed == cell["seed"])
                     & (steps == cell.get("organism_steps", 0)) & (df.training == "none")]
            if not hit.empty and not pd.isna(hit[f"{prefix}_attacks"].iloc[0]):
                return int(hit[f"{prefix}_attacks"].iloc[0]), int(hit[f"{prefix}_n"].iloc[0])
        return None
