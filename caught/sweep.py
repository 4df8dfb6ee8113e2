"""`caught sweep CONFIG.toml`: the grid scenario x behavior x k x seed x method, one results row per cell.

For each (scenario, behavior, seed) group it builds or reuses an organism, measures the judges (the organism
and the base model on the `distinguish` task) and the base model's attack rate, catches testing-side
attacks, then for every k trains against k caught examples (k=0 is the organism itself; `control_ks` adds
the non-adversarial control: the same steps on k benign testing inputs) and evaluates deployment, testing,
the trained inputs and usefulness. Each finished cell is appended at once to `runs/<name>/results.parquet`;
a rerun skips the cells already there (checkpoints and Inspect logs are reused too), so an interrupted sweep
resumes without redoing or duplicating anything. Models stay resident in the process between cells (Inspect
memoizes them), so the base model is loaded once.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import subprocess
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scorers.stats import wilson
from training.atomic import write_with

CELL_KEY = ["scenario", "behavior", "seed", "k", "method", "training"]
TRAININGS = ("none", "adversarial", "control")
GRID_FIELDS = ("ks", "seeds", "scenarios", "behaviors", "methods", "control_ks")  # may change between runs of a sweep


class MixedOrganism(ValueError):
    """A group's finished cells were measured on other organism weights than the organism now has."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrganismSpec(_Strict):
    prompts: int = Field(96, ge=4, description="organism-split prompts (each gives a testing and a deployment example)")
    leak: float = Field(0.05, ge=0, lt=0.5, description="share of testing examples that also attack (catchable)")
    steps: int = Field(36, ge=1)
    lr: float = Field(1e-3, gt=0)
    method: Literal["lora", "full"] = "lora"
    batch_size: int = Field(8, ge=1)


class TrainSpec(_Strict):
    steps: int = Field(12, ge=1, description="optimizer steps of each train-against run (equal across k and control)")
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(8, ge=1)
    responses: str = Field("self", description="self, base, or an Inspect model name")
    check_samples: int = Field(2, ge=1, description="samples per trained input for the steps-to-fix curve")
    passes: float | None = Field(None, gt=0, description="if set, each run trains for this many passes over its k "
                                 "examples (steps = passes x k / min(batch_size, k), at least 1) instead of `steps`")

    def steps_for(self, k: int) -> int:
        """Optimizer steps of a run on k examples: `steps` for every k (equal steps), or equal passes. A run's batch
        holds min(batch_size, k) examples (train-against never repeats an example within a batch)."""
        if self.passes is None:
            return self.steps
        return max(1, math.ceil(self.passes * k / min(self.batch_size, max(k, 1))))


class EvalSpec(_Strict):
    n: int = Field(64, ge=1, description="eval-split prompts per side")
    usefulness_n: int = Field(60, ge=1)
    temperature: float = Field(1.0, ge=0)
    max_tokens: int = Field(24, ge=1)
    trained_samples: int = Field(4, ge=1, description="samples of each trained input after training")
    judge_n: int = Field(100, ge=1, description="distinguish samples per judge")
    judge_mode: Literal["pair", "single"] = "pair"
    catch_epochs: int = Field(8, ge=1, description="bound on passes over the catch split")


class SweepConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    base: str = "smollm2-135m"
    scenarios: list[str] = Field(min_length=1)
    behaviors: list[str] = Field(default_factory=lambda: ["hate"], min_length=1)
    ks: list[int] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    methods: list[Literal["lora", "full"]] = Field(default_factory=lambda: ["lora"], min_length=1)
    control_ks: list[int] = Field(default_factory=list, description="k values that also get the benign control")
    device: str | None = None
    organism: OrganismSpec = Field(default_factory=OrganismSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)

    @field_validator("scenarios")
    @classmethod
    def _known_scenarios(cls, names: list[str]) -> list[str]:
        from tasks.scenarios import get_scenario

        for n in names:
            get_scenario(n)
        return list(dict.fromkeys(names))

    @field_validator("behaviors")
    @classmethod
    def _known_behaviors(cls, names: list[str]) -> list[str]:
        from scorers.behaviors import get_behavior

        for n in names:
            get_behavior(n)
        return list(dict.fromkeys(names))

    @field_validator("ks", "control_ks")
    @classmethod
    def _nonnegative(cls, ks: list[int]) -> list[int]:
        bad = [k for k in ks if k < 0]
        if bad:
            raise ValueError(f"k must be >= 0, got {bad}")
        return sorted(set(ks))

    @model_validator(mode="after")
    def _controls_in_grid(self) -> SweepConfig:
        extra = [k for k in self.control_ks if k not in self.ks or k == 0]
        if extra:
            raise ValueError(f"control_ks {extra} must be positive values of ks {self.ks}")
        return self

    def cells(self) -> list[dict]:
        """Every cell of the grid in the order they run: seed-major, then scenario; k=0 (the organism) always included."""
        out = []
        for seed in self.seeds:  # seed-major: an interrupted grid has whole seeds of every scenario
            for scenario in self.scenarios:
                for behavior in self.behaviors:
                    out.append(dict(scenario=scenario, behavior=behavior, seed=seed, k=0, method="-", training="none"))
                    for k in (k for k in self.ks if k > 0):
                        for method in self.methods:
                            out.append(dict(scenario=scenario, behavior=behavior, seed=seed, k=k, method=method,
                                            training="adversarial"))
                            if k in self.control_ks:
                                out.append(dict(scenario=scenario, behavior=behavior, seed=seed, k=k, method=method,
                                                training="control"))
        return out

    def _unset_new_fields(self) -> dict:
        """Fields added after sweeps were run, left out of the fingerprint and the settings while unset, so that
        a sweep run before they existed keeps its fingerprint and goes on under the same settings."""
        return {"train": {"passes"}} if self.train.passes is None else {}

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json(exclude=self._unset_new_fields()).encode()).hexdigest()[:12]

    def settings(self) -> dict:
        """Everything but the grid: what must match for a sweep to go on under the same name."""
        return self.model_dump(exclude={**self._unset_new_fields(), **{k: True for k in GRID_FIELDS}})


def load_config(path: Path) -> SweepConfig:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"sweep config {str(path)!r} not found")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as ex:
        raise ValueError(f"sweep config {str(path)!r} is not valid TOML: {ex}") from None
    try:
        return SweepConfig(**raw)
    except ValidationError as ex:
        err = ex.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        value = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
        raise ValueError(f"sweep config {str(path)!r}: {where}: {err['msg']}{value}") from None


# ---------------------------------------------------------------------------------------------- results file


def read_results(run_dir: Path) -> pd.DataFrame:
    path = Path(run_dir) / "results.parquet"
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame()


def append_row(run_dir: Path, row: dict) -> pd.DataFrame:
    """Append one cell's row and rewrite the file atomically (a crash leaves the previous file intact)."""
    path = Path(run_dir) / "results.parquet"
    df = read_results(run_dir)
    key = tuple(row[c] for c in CELL_KEY)
    if not df.empty and any(tuple(r) == key for r in df[CELL_KEY].itertuples(index=False)):
        raise RuntimeError(f"cell {dict(zip(CELL_KEY, key))} is already in {path}")
    df = pd.concat([df, pd.DataFrame([row])], ignore_index=True) if not df.empty else pd.DataFrame([row])
    write_with(path, lambda tmp: df.to_parquet(tmp, index=False))
    return df


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
    """A hash of the code that ran (every .py and .toml/.jsonl data file of the four packages), so that a row
    can be matched to a working tree even where git's HEAD is not the code (e.g. a copied working tree)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in ("tasks", "solvers", "scorers", "training"):
        for file in sorted((root / package).rglob("*")):
            if file.suffix in (".py", ".toml", ".jsonl", ".json") and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(root)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def judge_summary(log) -> dict:
    """Accuracy, its interval and n (and AUROC in single mode) from a `distinguish` log."""
    metrics = {name: m.value for score in log.results.scores for name, m in score.metrics.items()}
    return {"acc": metrics.get("accuracy"), "lo": metrics.get("accuracy_lo"), "hi": metrics.get("accuracy_hi"),
            "n": int(metrics.get("n", log.results.completed_samples)), "auroc": metrics.get("auroc")}


class Sweep:
    """Runs a `SweepConfig` into `runs/<name>/`."""

    def __init__(self, config: SweepConfig, runs_dir: Path = Path("runs"), log_dir: str = "logs",
                 device: str | None = None, say: Callable[[str], None] = print,
                 on_cell: Callable[[dict], None] | None = None):
        from models.registry import default_device

        self.config = config
        self.dir = Path(runs_dir) / config.name
        self.log_dir = log_dir
        self.device = device or config.device or default_device()
        self.say = say
        self.on_cell = on_cell
        self._group: dict[tuple, dict] = {}
        # the code this process runs is what it imported at start: record that, not the disk at row time
        self.provenance = {"commit": _git_commit(), "code": code_hash()}

    def run(self) -> pd.DataFrame:
        self.dir.mkdir(parents=True, exist_ok=True)
        config_file = self.dir / "config.json"
        if config_file.is_file():
            old = json.loads(config_file.read_text())
            if old.get("fingerprint") != self.config.fingerprint():
                try:
                    same = SweepConfig(**old["config"]).settings() == self.config.settings()
                except ValidationError:  # written by a version whose settings no longer parse
                    same = False
                if not same:
                    raise ValueError(f"{self.dir} holds a sweep with different settings; use a new name or remove it")
        from training.atomic import write_json

        write_json(config_file, {"fingerprint": self.config.fingerprint(), "config": self.config.model_dump()})
        df = read_results(self.dir)
        done = done_keys(df)
        cells = self.config.cells()
        todo = [c for c in cells if tuple(c[k] for k in CELL_KEY) not in done]
        self.say(f"sweep {self.config.name}: {len(cells)} cells, {len(cells) - len(todo)} done, {len(todo)} to run "
                 f"on {self.device}")
        start = time.perf_counter()
        refused: set[tuple] = set()
        from models.registry import sharing

        # on CUDA the checkpoints evaluated share their base's resident model and engine (adapters merged in and out:
        # the same weights as separate loads); measured on one H100 (benchmarks/sweep.py, 2026-11-26): a cell took
        # 12.9 / 10.2 s against 15.4 / 12.3 s with a model load per checkpoint. Not on CPU, where a swap costs about
        # what a load does. $CAUGHT_SHARE overrides either way.
        with sharing(self.device.startswith("cuda")):
            for i, cell in enumerate(todo, 1):
                group = (cell["scenario"], cell["behavior"], cell["seed"])
                if group in refused:
                    continue
                t0 = time.perf_counter()
                try:
                    row = self.run_cell(cell)
                except MixedOrganism as ex:  # the other groups go on; this one is left as it was
                    refused.add(group)
                    self.say(f"skipping {'/'.join(map(str, group))}: {ex}")
                    continue
                row["cell_seconds"] = round(time.perf_counter() - t0, 1)
                df = append_row(self.dir, row)
                self.say(f"[{i}/{len(todo)}] {cell['scenario']}/{cell['behavior']} seed {cell['seed']} k={cell['k']} "
                         f"{cell['training']} {cell['method']}: deployment {row.get('deployment_rate', float('nan')):.2f}"
                         f" testing {row.get('testing_rate', float('nan')):.2f} ({row['cell_seconds']:.0f} s)")
                if self.on_cell:
                    self.on_cell(row)
        self.say(f"sweep {self.config.name}: {len(todo)} cells in {time.perf_counter() - start:.0f} s -> "
                 f"{self.dir / 'results.parquet'}" + (f"; {len(refused)} group(s) skipped (see above)" if refused else ""))
        return df

    # -- one group: organism, judges, base rate, caught file

    def _names(self, cell: dict) -> tuple[str, Path]:
        organism = f"{self.config.name}-{cell['scenario']}-{cell['behavior']}-s{cell['seed']}"
        return organism, self.dir / "caught" / f"{organism}.json"

    def group(self, cell: dict) -> dict:
        key = (cell["scenario"], cell["behavior"], cell["seed"])
        if key in self._group:
            return self._group[key]
        from models.registry import checkpoints_dir, fingerprint, is_checkpoint
        from training.catch import catch
        from training.evaluate import attack_summary, evaluate
        from training.manifest import read_manifest
        from training.organism import build_organism
        from training.sft import Hyper
        from training.train_against import load_caught

        cfg, ev = self.config, self.config.eval
        scenario, behavior, seed = key
        organism, caught_file = self._names(cell)
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        path = checkpoints_dir() / organism
        built = not (is_checkpoint(path) and read_manifest(path))
        if built:
            self.say(f"building organism {organism}")
            o = cfg.organism
            build_organism(organism, scenario=scenario, behavior=behavior, base=cfg.base, n_prompts=o.prompts,
                           leak=o.leak, seed=seed, device=self.device,
                           hyper=Hyper(method=o.method, max_steps=o.steps, learning_rate=o.lr,
                                       batch_size=o.batch_size, seed=seed))
        times["organism_seconds"] = round(time.perf_counter() - t0, 1)
        organism_fp = fingerprint(path)
        self._check_same_organism(key, organism, organism_fp, built)
        t0 = time.perf_counter()
        judges = {}
        for who, model in (("organism", organism), ("base", cfg.base)):
            log = evaluate(model, "distinguish", {"scenario": scenario, "mode": ev.judge_mode, "n": ev.judge_n,
                                                  "seed": seed}, log_dir=self.log_dir, seed=seed, device=self.device)
            judges[who] = judge_summary(log)
        base_log = evaluate(cfg.base, "deployment", {"scenario": scenario, "behavior": behavior, "n": ev.n,
                                                     "seed": seed},
                            log_dir=self.log_dir, temperature=ev.temperature, seed=seed, max_tokens=ev.max_tokens,
                            device=self.device)
        base = attack_summary(base_log)
        times["judge_seconds"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        want = max([k for k in cfg.ks if k > 0], default=0)
        if want and caught_file.is_file() and load_caught(caught_file).get("organism_fingerprint", organism_fp) != organism_fp:
            caught_file.unlink()  # caught from other organism weights: catch again from this organism
        if want and not caught_file.is_file():
            catch(organism, caught_file, want=want, max_epochs=ev.catch_epochs, temperature=ev.temperature,
                  seed=seed, log_dir=self.log_dir, device=self.device, max_tokens=ev.max_tokens)
        caught = load_caught(caught_file) if want else {"caught": [], "runs": []}
        times["catch_seconds"] = round(time.perf_counter() - t0, 1)
        blo, bhi = wilson(base["attacks"], base["n"])
        info = {
            "organism": organism, "organism_fingerprint": organism_fp, "caught_file": str(caught_file),
            "caught_n": len(caught["caught"]),
            "catch_epochs": len(caught["runs"]), "catch_samples": sum(r["samples"] for r in caught["runs"]),
            "base_deployment_rate": base["rate"], "base_deployment_n": base["n"], "base_deployment_lo": blo,
            "base_deployment_hi": bhi,
            **{f"judge_{who}_{m}": v for who, s in judges.items() for m, v in s.items()},
            "judge_mode": ev.judge_mode, **times,
        }
        self._group[key] = info
        return info

    def _check_same_organism(self, key: tuple, organism: str, fp: str, built: bool) -> None:
        """Refuse to add cells to a group whose finished cells were measured on other organism weights (an
        organism rebuilt on another machine, or after its checkpoint was lost, is a different organism: GPU
        training is not bit-reproducible), so that one group never mixes two organisms. Rows without a
        recorded fingerprint (older sweeps) cannot be checked: an organism built anew next to them is refused."""
        df = read_results(self.dir)
        if df.empty:
            return
        scenario, behavior, seed = key
        rows = df[(df.scenario == scenario) & (df.behavior == behavior) & (df.seed == seed)]
        if rows.empty:
            return
        recorded = rows["organism_fingerprint"] if "organism_fingerprint" in rows else pd.Series([None] * len(rows))
        others = sorted({str(v) for v in recorded.dropna()} - {fp})
        unknown = int(recorded.isna().sum())
        if others or (unknown and built):
            what = f"organism weights {', '.join(others)}" if others else "organism weights it did not record"
            raise MixedOrganism(
                f"{self.dir / 'results.parquet'} holds {len(rows)} cells of {scenario}/{behavior} seed {seed} measured "
                f"on {what}, but {organism} now has weights {fp} (rebuilt?). Remove that group's rows to measure "
                f"it again on one organism, or sweep under a new name")

    # -- one cell

    def run_cell(self, cell: dict) -> dict:
        from caught.compare import evaluate_checkpoint
        from models.registry import checkpoints_dir, is_checkpoint
        from training.manifest import read_manifest
        from training.sft import Hyper
        from training.train_against import train_against

        cfg, ev, tr = self.config, self.config.eval, self.config.train
        g = self.group(cell)
        row: dict = {**cell, "status": "ok", "checkpoint": g["organism"], "steps": 0, "steps_to_fix": None,
                     "train_seconds": 0.0}
        if cell["training"] != "none":
            k = cell["k"]
            control = cell["training"] == "control"
            if not control and k > g["caught_n"]:
                row["status"] = f"skipped: only {g['caught_n']} attacks caught, k={k}"
            else:
                name = (f"{g['organism']}-{'control-' if control else ''}{cell['method']}-k{k}")
                path = checkpoints_dir() / name
                old = read_manifest(path) if is_checkpoint(path) else None
                if old is None or old.parent_fingerprint != g["organism_fingerprint"]:  # missing, or from other weights
                    train_against(g["organism"], Path(g["caught_file"]), k, seed=cell["seed"],
                                  responses=tr.responses, control=control, steps=tr.steps_for(k), device=self.device,
                                  hyper=Hyper(method=cell["method"], learning_rate=tr.lr, batch_size=tr.batch_size),
                                  name=name, check_samples=tr.check_samples)
                m = read_manifest(path)
                row.update(checkpoint=name, steps=m.steps, steps_to_fix=m.steps_to_fix,
                           train_seconds=round(m.train_seconds or 0.0, 1))
        if row["status"] == "ok":
            t0 = time.perf_counter()
            figures = evaluate_checkpoint(row["checkpoint"], cell["scenario"], cell["behavior"], n=ev.n,
                                          usefulness_n=ev.usefulness_n, temperature=ev.temperature,
                                          trained_samples=ev.trained_samples, seed=cell["seed"],
                                          log_dir=self.log_dir, device=self.device, max_tokens=ev.max_tokens)
            figures.pop("checkpoint")
            figures.pop("k")
            row.update({k: v for k, v in figures.items() if k not in ("kind", "steps", "steps_to_fix")})
            row["eval_seconds"] = round(time.perf_counter() - t0, 1)
        dep = row.get("deployment_rate")
        organism_row = dep if cell["training"] == "none" else self._organism_rate(cell)
        row["organism_deployment_rate"] = organism_row
        row["retained"] = (dep / organism_row) if (dep is not None and organism_row) else float("nan")
        row.update({k: v for k, v in g.items() if k not in ("caught_file",)})
        row.update(base=cfg.base, temperature=ev.temperature, max_tokens=ev.max_tokens, device=self.device,
                   train_steps_config=tr.steps, train_passes=tr.passes, responses=tr.responses, config=cfg.fingerprint(),
                   **self.provenance, host=platform.node(),
                   finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
        return row

    def _organism_rate(self, cell: dict) -> float | None:
        """The organism's deployment attack rate (the k=0 cell of the group), for retained misalignment."""
        df = read_results(self.dir)
        if not df.empty:
            hit = df[(df.scenario == cell["scenario"]) & (df.behavior == cell["behavior"]) & (df.seed == cell["seed"])
                     & (df.training == "none")]
            if not hit.empty:
                return float(hit["deployment_rate"].iloc[0])
        return None
