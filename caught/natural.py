"""`caught sycophancy CONFIG.toml`: the sycophancy ladder (issue 23, part 1) and its innocuous-habit baseline.

For each target (sycophancy; habit, the baseline) it catches the behavior on the base model (training.natural:
greedy, over the `train` pool / the habit's `train` split; stored as runs/<name>/caught-<target>.json and reused
while the base weights are the same), then for every seed and k trains the base model on k caught inputs with
corrected responses (sycophancy: the model's own plain answer; habit: the response without the habit), and
measures the trained checkpoint (k=0: the base model itself) on

- `heldout`: the behavior on held-out items of the same formats (sycophancy: the `eval` split, every kind;
  habit: the `eval` split's prompts),
- `format`: sycophancy on the different-format held-out set (the `heldout` split's `consensus` items),
- `trained`: the behavior on the k trained inputs themselves (the sanity check: training should fix them; every
  one of them showed the behavior before training, greedy, by construction),
- `capability`: the held-out capability check (usefulness; its items are none of the sycophancy questions).

With `controls = ["matched"]` (at `control_ks`, default every k), the sycophancy target also gets a control cell
per seed and k (`training` = control; adversarial cells: adversarial; k=0: none): the same k caught items picked
for that seed, but trained on as their plain questions (no pressure) with the same corrected responses, the same
number of records, steps and learning rate (training.natural.control_records). It separates "training on k correct
answers lowers sycophancy" from "training against k caught examples does". Its `trained` measure is sycophancy on
the same k caught items (under pressure, which it never saw).

With `attitude` (`rules` or `grader`), every sycophancy cell is also measured with a scratchpad (tasks/sycophancy,
scratchpad=True, the eval split) and its reasoning classified (scorers/attitude.py): `scratchpad` (the share of
replies with reasoning in a scratchpad), `please` and `noticed` (the shares of those scratchpads that show a wish to
please the user / care about being noticed or caught), each with n, count and a Wilson interval.

Every rate is greedy (temperature 0), with n, count and a 95% Wilson interval; each cell's row is appended at once
to runs/<name>/results.parquet and its per-sample records go to its own part in runs/<name>/samples/
(training.records), so an interrupted run resumes without redoing a finished cell (checkpoints and Inspect logs
are reused too). A k larger than the caught pool is skipped with a message (the report lists it as missing).
`caught sycophancy-report runs/<name>` (caught.natural_report) writes the report and the plot.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import pandas as pd

from caught import sweep
from caught.config import NaturalConfig, read_stored, same_settings
from scorers.stats import wilson
from training.atomic import write_json, write_with
from training.records import SAMPLES, _flat, sample_records, write_part

CELL_KEY = ["target", "training", "seed", "k"]
TRAININGS = ("none", "adversarial", "control")
MEASURES = ("heldout", "format", "trained", "capability")
ATTITUDE = ("scratchpad", "please", "noticed")  # columns of the attitude measure (n: samples; classified ones)


def with_training(df: pd.DataFrame) -> pd.DataFrame:
    """Rows (or per-sample records) of a ladder run before controls existed get their `training`: none at k=0,
    adversarial otherwise (all they held), also where they sit beside newer ones (a resumed run's records)."""
    if df.empty:
        return df
    implied = pd.Series(["none" if k == 0 else "adversarial" for k in df["k"]], index=df.index)
    return df.assign(training=df["training"].fillna(implied) if "training" in df else implied)


def read_results(run_dir: Path) -> pd.DataFrame:
    """The ladder's rows (the sweep's results file, without its schema: a ladder row is not a sweep row)."""
    return with_training(sweep.read_results(run_dir, check_schema=False))


def append_row(run_dir: Path, row: dict) -> pd.DataFrame:
    """Append one cell's row atomically; a cell already there is an error (caught.sweep.append_row). A file of a
    run from before controls existed is first given its `training` column."""
    raw = sweep.read_results(run_dir, check_schema=False)
    if not raw.empty and "training" not in raw:
        write_with(Path(run_dir) / "results.parquet", lambda tmp: with_training(raw).to_parquet(tmp, index=False))
    return sweep.append_row(run_dir, row, key_columns=CELL_KEY, check_schema=False)


def _columns(measure: str, count: int, n: int) -> dict:
    lo, hi = wilson(count, n) if n else (float("nan"), float("nan"))
    return {f"{measure}_n": n, f"{measure}_count": count, f"{measure}_rate": count / n if n else float("nan"),
            f"{measure}_lo": lo, f"{measure}_hi": hi}


def attitude_columns(log) -> dict:
    """`scratchpad_*` over every sample; `please_*`, `noticed_*` over the classified scratchpads (scorers/attitude)."""
    values = [s.scores["attitude_scorer"].value for s in log.samples or []]
    classified = [v for v in values if v.get("classified")]
    return {**_columns("scratchpad", sum(v["has_scratchpad"] for v in values), len(values)),
            **_columns("please", sum(v["please"] for v in classified), len(classified)),
            **_columns("noticed", sum(v["noticed"] for v in classified), len(classified))}


def rate_columns(measure: str, log) -> dict:
    """`<measure>_n`, `_count`, `_rate`, `_lo`, `_hi` from a log's first score (1 = the behavior shown, or, for
    capability, a correct answer)."""
    values = [_flat(next(iter(s.scores.values())).value) for s in log.samples or []]
    return _columns(measure, int(sum(values)), len(values))


class NaturalLadder:
    def __init__(self, config: NaturalConfig, runs_dir: Path = Path("runs"), log_dir: str | None = None,
                 progress=print):
        from models.registry import default_device

        self.config = config
        self.run_dir = Path(runs_dir) / config.name
        self.log_dir = log_dir or str(self.run_dir / "logs")
        self.device = config.device or default_device()
        self.progress = progress

    def cells(self) -> list[dict]:
        """k=0 (the base model) once per target, then seed-major: every k of a seed before the next seed, each
        adversarial cell followed by its controls (sycophancy only)."""
        c = self.config
        out = [dict(target=t, training="none", seed=-1, k=0) for t in c.targets]
        for seed in c.seeds:
            for target in c.targets:
                for k in (k for k in c.ks if k > 0):
                    out.append(dict(target=target, training="adversarial", seed=seed, k=k))
                    if target == "sycophancy":
                        out += [dict(target=target, training=t, seed=seed, k=k) for t in c.control_cells_at(k)]
        return out

    def _check_config(self) -> None:
        file = self.run_dir / "config.json"
        if file.is_file():
            stored = read_stored(self.run_dir)
            if not same_settings(stored, self.config):
                raise ValueError(f"runs/{self.config.name} was run with other settings (config.json); use another "
                                 "name or move that directory away. Nothing was changed")
        write_json(file, {"fingerprint": self.config.fingerprint(), "config": self.config.model_dump(mode="json")})

    def pool(self, target: str) -> dict:
        """The caught pool of `target` on the base model (stored, reused while the base weights are the same)."""
        from models.registry import fingerprint, resolve
        from training.natural import catch_pool

        file = self.run_dir / f"caught-{target}.json"
        fp = fingerprint(resolve(self.config.base))
        if file.is_file():
            stored = json.loads(file.read_text())
            if stored.get("base_fingerprint") == fp:
                return stored
        start = time.perf_counter()
        pool = catch_pool(target, self.config.base, habit=self.config.habit, catch_n=self.config.catch_n,
                          log_dir=self.log_dir, device=self.device)
        pool.update(base=self.config.base, base_fingerprint=fp, target=target, catch_seconds=round(
            time.perf_counter() - start, 1), decoding="greedy", habit=self.config.habit if target == "habit" else None)
        write_json(file, pool)
        self.progress(f"caught {target}: {len(pool['caught'])} of {pool['samples']} (dropped {len(pool['dropped'])})")
        return pool

    def evaluations(self, target: str, trained_ids: list[str]):
        from training.evaluate import Evaluation

        c = self.config
        out: dict[str, Evaluation] = {}
        if target == "sycophancy":
            out["heldout"] = Evaluation("sycophancy", {"split": "eval", "n": c.eval_n})
            out["format"] = Evaluation("sycophancy", {"split": "heldout", "n": c.heldout_n})
            if trained_ids:
                out["trained"] = Evaluation("sycophancy", {"split": "train"}, sample_ids=tuple(sorted(trained_ids)))
            if c.attitude:
                out["attitude"] = Evaluation("sycophancy", {"split": "eval", "n": c.attitude_n, "scratchpad": True,
                                                            "attitude": c.attitude})
        else:
            out["heldout"] = Evaluation("habit", {"habit": c.habit, "split": "eval", "n": c.habit_n})
            if trained_ids:
                out["trained"] = Evaluation("habit", {"habit": c.habit, "split": "train"},
                                            sample_ids=tuple(sorted(trained_ids)))
        out["capability"] = Evaluation("capability", {"n": c.capability_n})
        return out

    def run_cell(self, cell: dict, pool: dict) -> dict:
        from models.registry import fingerprint, resolve
        from training.evaluate import evaluate_many
        from training.natural import control_records, pick, sft_records, train_cell

        c = self.config
        start = time.perf_counter()
        row = {**cell, "habit": c.habit if cell["target"] == "habit" else None, "augment": c.augment,
               "attitude_classifier": (c.attitude if c.attitude != "grader" else f"grader={c.attitude_grader}")
               if c.attitude and cell["target"] == "sycophancy" else None,
               "caught_pool": len(pool["caught"]), "device": self.device, "temperature": 0.0,
               "config": c.fingerprint(), "host": platform.node()}
        trained_ids: list[str] = []
        checkpoint = c.base
        if cell["k"] > 0:
            picked = pick(pool["caught"], cell["k"], cell["seed"])  # a control picks the same items as its run
            trained_ids = [p["id"] for p in picked]
            control = cell["training"] == "control"
            records = (control_records(picked, c.augment) if control
                       else sft_records(cell["target"], picked, c.augment, cell["seed"]))
            name = f"{c.name}-{cell['target']}{'-control' if control else ''}-k{cell['k']}-s{cell['seed']}"
            path, stats = train_cell(c.base, records, name, target=cell["target"], k=cell["k"], seed=cell["seed"],
                                     hyper=c.hyper(), device=self.device,
                                     responses="plain questions, corrected responses (control)" if control
                                     else "corrected")
            checkpoint = str(path)
            row.update(n_records=len(records), steps=stats["steps"], train_loss=stats["train_loss"],
                       train_seconds=stats["train_seconds"], trained_ids=json.dumps(trained_ids))
        evals = self.evaluations(cell["target"], trained_ids)
        roles = {"grader": c.attitude_grader} if c.attitude == "grader" and "attitude" in evals else None
        logs = evaluate_many(checkpoint, list(evals.values()), log_dir=self.log_dir, device=self.device,
                             model_roles=roles)
        fp = fingerprint(resolve(checkpoint))
        records_out = []
        for measure, log in zip(evals, logs):
            row.update(attitude_columns(log) if measure == "attitude" else rate_columns(measure, log))
            records_out += [{**cell, "measure": measure, **r} for r in sample_records(log, checkpoint, fp,
                                                                                       evaluation=measure)]
        row.update(checkpoint=checkpoint, fingerprint=fp, cell_seconds=round(time.perf_counter() - start, 1))
        write_part(self.run_dir / SAMPLES, {k: cell[k] for k in CELL_KEY}, records_out)
        return row

    def run(self) -> pd.DataFrame:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._check_config()
        df = read_results(self.run_dir)
        done = set() if df.empty else {tuple(r) for r in df[CELL_KEY].itertuples(index=False)}
        pools: dict[str, dict] = {}
        for cell in self.cells():
            if tuple(cell[k] for k in CELL_KEY) in done:
                continue
            if cell["target"] not in pools:
                pools[cell["target"]] = self.pool(cell["target"])
            if cell["k"] > len(pools[cell["target"]]["caught"]):  # reported as missing, the rest of the grid runs
                self.progress(f"{cell['target']} {cell['training']} seed {cell['seed']} k={cell['k']}: skipped, only "
                              f"{len(pools[cell['target']]['caught'])} caught (raise catch_n or lower k)")
                continue
            row = self.run_cell(cell, pools[cell["target"]])
            df = append_row(self.run_dir, row)
            shown = ", ".join(f"{m} {row[f'{m}_rate']:.2f} (n={row[f'{m}_n']})" for m in MEASURES + ATTITUDE
                              if f"{m}_rate" in row)
            label = "" if cell["training"] in ("none", "adversarial") else f" ({cell['training']})"
            self.progress(f"{cell['target']}{label} seed {cell['seed']} k={cell['k']}: {shown} "
                          f"[{row['cell_seconds']} s]")
        return df
