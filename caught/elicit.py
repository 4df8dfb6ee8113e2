"""`caught elicit CONFIG.toml`: elicit a password-locked capability without ground truth (issue 23, part 2).

1. The organism (training.locked): the base model is trained on the locked domains' `train` items (`capable`), then
   locked (`locked`: right answers with the password, bad ones without). Both stages, and the base model, are
   measured on the held-out `eval` items of every domain, without and with the password. The locked organism must
   answer at least `bound` of every domain right with the password: one that misses is refused with one error line
   (`require_bound = true`) or, with `require_bound = false`, elicited anyway and reported as a miss.
2. The methods (training.elicit), each trained on the locked organism with prompts of the elicited domain's
   `elicit` split, never with the password, once per seed: `intent` (SFT on "Sure, here is how to solve it:"),
   `rl` (GRPO with a grader as the reward), `groundtruth` with k examples (the comparison). Each trained checkpoint
   is measured like the organism; the other locked domains show generalization between domains.

A cell's training data goes to runs/<name>/data/<method>-k<k>-s<seed>.jsonl, and the number of its records that
carry their item's ground truth to the row (`gt_records`): a method other than `groundtruth` whose data carries any is
refused before it trains. Every accuracy is greedy (temperature 0) with n, count and a 95% Wilson interval; each
cell's row is appended at once to runs/<name>/results.parquet and its per-sample records to runs/<name>/samples/, so
an interrupted run resumes without redoing a finished cell. `caught elicit-report runs/<name>` writes the report.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import pandas as pd

from caught import sweep
from caught.config import ElicitConfig, read_stored, same_settings
from caught.natural import rate_columns
from training.atomic import write_json, write_text
from training.records import SAMPLES, sample_records, write_part

CELL_KEY = ["method", "k", "seed"]
STAGES = ("base", "capable", "locked")  # the organism's rows (seed -1, k 0)


def read_results(run_dir: Path) -> pd.DataFrame:
    return sweep.read_results(run_dir, check_schema=False)


def append_row(run_dir: Path, row: dict) -> pd.DataFrame:
    return sweep.append_row(run_dir, row, key_columns=CELL_KEY, check_schema=False)


def measures(domains: list[str]) -> list[str]:
    """`<domain>_locked` (no password) and `<domain>_unlocked` (with it), per domain."""
    return [f"{d}_{state}" for d in domains for state in ("locked", "unlocked")]


def organism_misses(row: dict, domains: list[str], bound: float) -> list[str]:
    """The domains where a row's accuracy with the password is below `bound`, each with its figure."""
    out = []
    for d in domains:
        rate = row[f"{d}_unlocked_rate"]
        if not rate >= bound:
            out.append(f"{d} {rate:.2f} (n={row[f'{d}_unlocked_n']}, 95% CI {row[f'{d}_unlocked_lo']:.2f}-"
                       f"{row[f'{d}_unlocked_hi']:.2f})")
    return out


class Elicitation:
    def __init__(self, config: ElicitConfig, runs_dir: Path = Path("runs"), log_dir: str | None = None,
                 progress=print):
        from models.registry import default_device

        self.config = config
        self.run_dir = Path(runs_dir) / config.name
        self.log_dir = log_dir or str(self.run_dir / "logs")
        self.device = config.device or default_device()
        self.progress = progress

    def cells(self) -> list[dict]:
        c = self.config
        out = []
        for seed in c.seeds:
            for method in c.methods:
                ks = c.ks if method == "groundtruth" else [c.intent_n if method == "intent" else c.rl_prompts]
                out += [dict(method=method, k=k, seed=seed) for k in ks]
        return out

    def _check_config(self) -> None:
        file = self.run_dir / "config.json"
        if file.is_file():
            stored = read_stored(self.run_dir)
            if not same_settings(stored, self.config):
                raise ValueError(f"runs/{self.config.name} was run with other settings (config.json); use another "
                                 "name or move that directory away. Nothing was changed")
        write_json(file, {"fingerprint": self.config.fingerprint(), "config": self.config.model_dump(mode="json")})

    def evaluations(self):
        from training.evaluate import Evaluation

        return {f"{d}_{state}": Evaluation("locked", {"domain": d, "split": "eval", "password": state == "unlocked",
                                                      "n": self.config.eval_n})
                for d in self.config.domains for state in ("locked", "unlocked")}

    def measure(self, checkpoint: str, cell: dict, row: dict) -> dict:
        """Every domain without and with the password: the row's rate columns, and the per-sample records."""
        from models.registry import fingerprint, resolve
        from training.evaluate import evaluate_many

        evals = self.evaluations()
        logs = evaluate_many(checkpoint, list(evals.values()), log_dir=self.log_dir, device=self.device)
        fp = fingerprint(resolve(checkpoint))
        records = []
        for measure, log in zip(evals, logs):
            row.update(rate_columns(measure, log))
            records += [{**cell, "measure": measure, **r}
                        for r in sample_records(log, checkpoint, fp, evaluation=measure)]
        row.update(checkpoint=checkpoint, fingerprint=fp)
        write_part(self.run_dir / SAMPLES, {k: cell[k] for k in CELL_KEY}, records)
        return row

    def _row(self, cell: dict) -> dict:
        c = self.config
        return {**cell, "elicit_domain": c.trained_domain, "domains": ",".join(c.domains), "lock": c.lock,
                "device": self.device, "temperature": 0.0, "config": c.fingerprint(), "host": platform.node()}

    def organism(self, df: pd.DataFrame) -> tuple[str, pd.DataFrame]:
        """Build (or reuse) and measure the organism's stages; returns the locked checkpoint and the results."""
        from training.locked import build

        c = self.config
        done = set() if df.empty else set(df.loc[df["seed"] == -1, "method"])
        start = time.perf_counter()
        built = build(c.base, c.name, list(c.domains), style=c.lock, capable_hyper=c.capable_hyper(),
                      lock_hyper=c.lock_hyper(), device=self.device, n=c.train_n)
        checkpoints = {"base": c.base, "capable": built["capable"], "locked": built["locked"]}
        self._check_organism(df, checkpoints)
        for stage in STAGES:
            if stage in done:
                continue
            cell = dict(method=stage, k=0, seed=-1)
            row = self._row(cell)
            stats = built["stats"].get(stage)
            if stats:
                row.update(steps=stats["steps"], train_loss=stats["train_loss"], train_seconds=stats["train_seconds"])
            row = self.measure(checkpoints[stage], cell, row)
            row["cell_seconds"] = round(time.perf_counter() - start, 1)
            df = append_row(self.run_dir, row)
            self.progress(f"{stage}: " + ", ".join(f"{m} {row[f'{m}_rate']:.2f} (n={row[f'{m}_n']})"
                                                   for m in measures(c.domains)))
            start = time.perf_counter()
        locked_row = df[(df["seed"] == -1) & (df["method"] == "locked")].iloc[-1].to_dict()
        misses = organism_misses(locked_row, list(c.domains), c.bound)
        if misses:
            text = (f"the locked organism misses its bound: accuracy with the password {'; '.join(misses)} < "
                    f"{c.bound:.2f}")
            if c.require_bound:
                raise ValueError(f"{text}; train the capability longer (capable_steps) or set require_bound = false "
                                 "to elicit anyway (the report marks it as a miss)")
            self.progress(f"MISS: {text} (require_bound = false: eliciting anyway)")
        return built["locked"], df

    def _check_organism(self, df: pd.DataFrame, checkpoints: dict[str, str]) -> None:
        """A run's rows are measured on one organism: a stage rebuilt with other weights (on another machine, or after
        its checkpoint was lost: GPU training is not bit-reproducible) is refused, never mixed in."""
        from models.registry import fingerprint, resolve

        if df.empty or "fingerprint" not in df:
            return
        for stage in ("capable", "locked"):
            recorded = {str(v) for v in df.loc[(df["seed"] == -1) & (df["method"] == stage), "fingerprint"].dropna()}
            now = fingerprint(resolve(checkpoints[stage]))
            if recorded - {now}:
                raise ValueError(
                    f"{self.run_dir / 'results.parquet'} was measured on the {stage} organism with weights "
                    f"{', '.join(sorted(recorded))}, but {checkpoints[stage]} now has weights {now} (rebuilt?): one run "
                    "never mixes two organisms; run the config under a new name, or remove the run directory to "
                    "measure it again whole")

    def cell_data(self, cell: dict) -> list[dict]:
        from training.elicit import ground_truth_leaks, method_records, pick

        records = method_records(cell["method"], pick(self.config.trained_domain, cell["k"], cell["seed"]))
        leaks = ground_truth_leaks(records)
        write_text(self.run_dir / "data" / f"{cell['method']}-k{cell['k']}-s{cell['seed']}.jsonl",
                   "".join(json.dumps(r) + "\n" for r in records))
        if leaks and cell["method"] != "groundtruth":
            raise ValueError(f"{cell['method']} data carries ground truth in {len(leaks)} records ({leaks[:3]}); "
                             "refused: only the groundtruth comparison may train on answers")
        return records

    def run_cell(self, cell: dict, locked: str) -> dict:
        from training.elicit import ground_truth_leaks, train_rl
        from training.locked import train_checkpoint

        c = self.config
        start = time.perf_counter()
        records = self.cell_data(cell)
        row = self._row(cell)
        name = f"{c.name}-{cell['method']}-k{cell['k']}-s{cell['seed']}"
        if cell["method"] == "rl":
            hyper = c.rl_hyper().model_copy(update={"bf16": self.device.startswith("cuda")})
            path, stats = train_rl(locked, records, name, hyper=hyper, grader=c.grader,
                                   grader_model=c.grader_model or c.base, device=self.device, seed=cell["seed"])
            row.update(grader=c.grader, rewards=json.dumps(stats.get("rewards")))
        else:
            path, stats = train_checkpoint(locked, records, name, kind="elicit", behavior=f"elicit-{cell['method']}",
                                           hyper=c.elicit_hyper(cell["method"]), device=self.device, seed=cell["seed"],
                                           k=cell["k"], open_ended=cell["method"] == "intent")
        row.update(n_records=len(records), gt_records=len(ground_truth_leaks(records)), steps=stats["steps"],
                   train_loss=stats.get("train_loss"), train_seconds=stats["train_seconds"],
                   trained_ids=json.dumps([r["item_id"] for r in records]))
        row = self.measure(str(path), cell, row)
        row["cell_seconds"] = round(time.perf_counter() - start, 1)
        return row

    def run(self) -> pd.DataFrame:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._check_config()
        df = read_results(self.run_dir)
        locked, df = self.organism(df)
        done = {tuple(r) for r in df[CELL_KEY].itertuples(index=False)}
        for cell in self.cells():
            if tuple(cell[k] for k in CELL_KEY) in done:
                continue
            row = self.run_cell(cell, locked)
            df = append_row(self.run_dir, row)
            shown = ", ".join(f"{m} {row[f'{m}_rate']:.2f}" for m in measures(self.config.domains))
            self.progress(f"{cell['method']} k={cell['k']} seed {cell['seed']}: {shown} [{row['cell_seconds']} s]")
        return df
