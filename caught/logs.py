"""`caught logs RUN_DIR`: rebuild a run's Inspect logs from its per-sample records, so `inspect view` opens them.

Inspect logs are never committed (too big); a committed run keeps its per-sample records (training.records:
`samples.parquet` or `samples/part-*.parquet`). This rebuilds one `.eval` log per Inspect log file the records name
(the `log` column), under the original file name's stem, with Inspect's own log types and `write_eval_log`:

    caught logs results/headline                         # -> results/headline/logs/*.eval (git-ignored)
    inspect view --log-dir results/headline/logs

Each sample holds the recorded completion (its output, and the assistant message after the input), the recorded
scores and detector verdicts (`score_<scorer>` and `verdict_<detector>` columns, each an Inspect `Score`; Inspect's
C/I are recorded as 1/0), and its input rebuilt from the task that produced it: the task is a deterministic
function of its arguments, which records written from 2026-12-07 on keep (`task_args`); for older records they
are inferred from the recorded columns (scenario, side, behavior, split, sample seed; `n` from the log's sample
count, else the whole split; distinguish's mode and orders from its sample ids, the locked
task's domain and password from `caught elicit`'s evaluation names), and the rebuilt task must hold
every recorded sample id (ids are hashes of the prompt) or the inferred arguments are refused. Where no arguments
rebuild the task (a task since removed, arguments the records do not hold), the log is still written: each
sample's input then says in words that it was not recorded, the eval metadata says why, and the command prints
each such log. The eval's model is the checkpoint name; its metadata says the log was rebuilt from records, from
which records path and original log file, and the weights' fingerprint. Records that name no log (teacher-forced
and probe scores) are not Inspect samples and are left out (counted). Timings, events and token usage were never
recorded and are empty; the eval's metrics are the means of the recorded values.

Nothing in the run directory is written except the output directory; an existing log there that was not rebuilt
(a run's real Inspect log of the same name) is kept, not overwritten.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from training.atomic import write_with
from training.records import read_samples, samples_path

REBUILT = "rebuilt_from_records"  # the eval metadata key that marks a rebuilt log
NOT_RECORDED = ("(input not recorded: {why}. This log was rebuilt from per-sample records; the completion and scores "
                "are the recorded ones.)")
# tasks caught always runs unframed (caught.compare.evaluate_checkpoint: the held-out capability check), whose records
# nonetheless carry a scenario (the sweep cell's) and a side (the task's default): for records without `task_args`
UNFRAMED = ("capability",)
# columns that are the sample itself, not context kept in its metadata
_OWN = {"log", "sample_id", "epoch", "completion", "task_args"}


@dataclass
class Summary:
    """What `rebuild_logs` wrote: logs and samples written, logs kept (a real log of that name was there), records
    without a log, and the logs whose inputs could not be rebuilt (file name -> why)."""

    out: Path
    logs: int = 0
    samples: int = 0
    kept: list[str] = field(default_factory=list)
    without_log: int = 0
    not_rebuilt: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def log_stem(location: str) -> str:
    """The original log file's name without its extension, from a path or a `file://` URL."""
    name = PurePosixPath(str(location).removeprefix("file://")).name
    for suffix in (".eval", ".json"):
        name = name.removesuffix(suffix)
    return name


def _value(v: Any) -> Any:
    """A record's value as plain Python (numpy scalars to Python), None for a missing one."""
    if v is None or (pd.api.types.is_scalar(v) and pd.isna(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def _first(rows: pd.DataFrame, column: str) -> Any:
    """The first non-missing value of `column` in `rows`, or None."""
    if column not in rows:
        return None
    present = rows[column].dropna()
    return _value(present.iloc[0]) if len(present) else None


# ----------------------------------------------------------------------------------------- the task's arguments


def _task_function(task: str):
    from training.evaluate import task_functions

    return task_functions().get(task)


def candidate_args(task: str, rows: pd.DataFrame) -> tuple[str, list[dict[str, Any]]]:
    """The arguments to rebuild `task` with for one log's records `rows`: ("recorded", [its task_args]) where the
    records keep them, else ("inferred", candidates in order), each to be checked against the sample ids."""
    recorded = _first(rows, "task_args")
    if recorded:
        return "recorded", [json.loads(recorded)]
    fn = _task_function(task)
    params = inspect.signature(fn).parameters if fn else {}
    args: dict[str, Any] = {}
    for column in ("scenario", "side", "behavior", "split"):
        value = _first(rows, column)
        if column in params and value is not None:
            args[column] = value
    seed = _first(rows, "sample_seed")
    seed = seed if seed is not None else _first(rows, "seed")
    if "seed" in params and seed is not None:
        args["seed"] = int(seed)
    if task in UNFRAMED:  # the records' scenario and side are the sweep cell's and the task's defaults
        args = {k: v for k, v in args.items() if k not in ("scenario", "side", "behavior")}
    evaluation = str(_first(rows, "evaluation") or "")
    if task == "locked" and evaluation.endswith(("_locked", "_unlocked")):  # caught elicit's <domain>_<state>: the
        domain, state = evaluation.rsplit("_", 1)  # password changes the input, not the sample id
        args |= {"domain": domain, "password": state == "unlocked"}
    ids = list(dict.fromkeys(rows["sample_id"].astype(str)))
    if task == "distinguish":
        single = all(i.endswith(("-testing", "-deployment")) for i in ids)
        if single:
            return "inferred", [{**args, "mode": "single", "n": len(ids)}]
        both = any("-".join(reversed(i.split("-", 1))) in set(ids) for i in ids)
        return "inferred", [{**args, "mode": "pair", "orders": "both" if both else "one",
                             "n": len(ids) // 2 if both else len(ids)}]
    return "inferred", [{**args, "n": len(ids)}, {**args, "n": None}] if "n" in params else [args]


@functools.lru_cache(maxsize=64)
def _samples(task: str, args_json: str) -> dict[str, Any]:
    """The samples of `task` built with `args_json` (JSON), by id (cached: many logs share a task's arguments)."""
    fn = _task_function(task)
    built = fn(**json.loads(args_json))
    return {str(s.id): s for s in built.dataset}


def rebuild_samples(task: str, rows: pd.DataFrame) -> tuple[dict[str, Any] | None, dict[str, Any], str, str]:
    """The task's samples for `rows` (one log's records): (samples by id or None, the arguments used, their source
    "recorded"/"inferred", why not where None). Arguments are accepted only if the task they build holds every
    recorded sample id."""
    if _task_function(task) is None:
        from training.evaluate import TASKS

        return None, {}, "", f"task {task!r} is not one of caught's tasks ({', '.join(TASKS)})"
    source, candidates = candidate_args(task, rows)
    ids = set(rows["sample_id"].astype(str))
    why = ""
    for args in candidates:
        try:
            samples = _samples(task, json.dumps(args, sort_keys=True))
        except (ValueError, TypeError, KeyError) as ex:
            why = f"tasks/{task} with {args} could not be built ({ex})"
            continue
        missing = ids - samples.keys()
        if not missing:
            return samples, args, source, ""
        why = (f"tasks/{task} with {args} ({source} arguments) does not hold {len(missing)} of the {len(ids)} "
               f"recorded sample ids (e.g. {sorted(missing)[0]})")
    return None, candidates[-1] if candidates else {}, source, why


# ----------------------------------------------------------------------------------------- one log


def build_log(location: str, rows: pd.DataFrame, records: Path):
    """The Inspect `EvalLog` of one original log file `location` from its records `rows`, and why its inputs were
    not rebuilt ("" where they were)."""
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalLog,
        EvalMetric,
        EvalResults,
        EvalSample,
        EvalScore,
        EvalSpec,
    )
    from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, GenerateConfig, ModelOutput
    from inspect_ai.scorer import Score

    for column in ("task", "checkpoint", "fingerprint"):
        values = rows[column].dropna().unique()
        if len(values) != 1:
            raise ValueError(f"the records of log {location!r} name {len(values)} values of {column} "
                             f"({', '.join(map(str, values[:4]))}); one Inspect log holds one task of one model")
    task, checkpoint, fp = (str(rows[c].iloc[0]) for c in ("task", "checkpoint", "fingerprint"))
    # one sample recorded by several cells (a log reused): the same sample, so the same completion, or the records
    # are not what they claim
    differ = rows.groupby(["sample_id", "epoch"])["completion"].nunique()
    if (differ > 1).any():
        (sid, epoch) = differ[differ > 1].index[0]
        raise ValueError(f"the records of log {location!r} hold different completions for sample {sid} epoch {epoch}; "
                         "one Inspect sample has one completion")
    rows = rows.drop_duplicates(subset=["sample_id", "epoch"], keep="first")
    rows = rows.sort_values(["epoch", "sample_id"], kind="stable")
    built, args, source, why = rebuild_samples(task, rows)
    scores = [c for c in rows.columns if c.startswith(("score_", "verdict_")) and rows[c].notna().any()]
    context = [c for c in rows.columns if c not in _OWN and c not in scores]
    samples = []
    for r in rows.itertuples(index=False):
        r = r._asdict()
        sid, completion = str(r["sample_id"]), str(_value(r["completion"]) or "")
        original = built[sid] if built is not None else None
        if original is not None:
            given = original.input
            messages = [ChatMessageUser(content=given)] if isinstance(given, str) else list(given)
            target, metadata = original.target, dict(original.metadata or {})
        else:
            given = NOT_RECORDED.format(why=why)
            messages, target, metadata = [ChatMessageUser(content=given)], "", {}
        metadata["record"] = {c: v for c in context if (v := _value(r[c])) is not None}
        samples.append(EvalSample(
            id=sid, epoch=int(r["epoch"]), input=given, target=target,
            messages=[*messages, ChatMessageAssistant(content=completion, model=checkpoint)],
            output=ModelOutput.from_content(model=checkpoint, content=completion),
            scores={c.split("_", 1)[1] if c.startswith("score_") else c: Score(value=v)
                    for c in scores if (v := _value(r[c])) is not None},
            metadata=metadata,
        ))
    settings = {k: _first(rows, c) for k, c in (("temperature", "temperature"), ("max_tokens", "max_tokens"),
                                                  ("seed", "sample_seed"))}
    settings = {k: (int(v) if k != "temperature" else float(v)) for k, v in settings.items() if v is not None}
    stem = log_stem(location)
    uid = hashlib.sha256(f"{location}:{fp}".encode()).hexdigest()[:22]
    ids = list(dict.fromkeys(str(s) for s in rows["sample_id"]))
    metrics = []
    for c in scores:
        values = pd.to_numeric(rows[c], errors="coerce").dropna()
        if len(values):
            name = c.split("_", 1)[1] if c.startswith("score_") else c
            metrics.append(EvalScore(name=name, scorer=name, scored_samples=len(values), metrics={
                "mean": EvalMetric(name="mean", value=float(values.mean()))}))
    eval_spec = EvalSpec(
        created=datetime.now(UTC).isoformat(timespec="seconds"), task=f"tasks/{task}", task_id=uid, run_id=uid,
        eval_id=uid, task_args=args, dataset=EvalDataset(name=f"{task} (rebuilt)", samples=len(ids), sample_ids=ids),
        model=checkpoint, model_generate_config=GenerateConfig(**settings),
        config=EvalConfig(epochs=int(rows["epoch"].max())),
        metadata={REBUILT: True, "records": str(records), "original_log": str(location), "original_name": stem,
                  "checkpoint": checkpoint, "fingerprint": fp, "evaluation": _first(rows, "evaluation"),
                  "task_args_source": source or None,
                  "inputs": "rebuilt from the task" if built is not None else f"not recorded: {why}"},
    )
    log = EvalLog(version=2, status="success", eval=eval_spec, samples=samples,
                  results=EvalResults(total_samples=len(samples), completed_samples=len(samples), scores=metrics))
    return log, "" if built is not None else why


# ----------------------------------------------------------------------------------------- a run


def _is_rebuilt(path: Path) -> bool:
    """Whether the log file at `path` is one this module wrote (else it is a real Inspect log: kept)."""
    from inspect_ai.log import read_eval_log

    try:
        header = read_eval_log(str(path), header_only=True)
    except Exception:  # noqa: BLE001 - an unreadable file at that name is not ours to replace
        return False
    return bool((header.eval.metadata or {}).get(REBUILT))


def rebuild_logs(run_dir: Path, out: Path | None = None, say=lambda _: None) -> Summary:
    """Rebuild `run_dir`'s Inspect logs from its per-sample records into `out` (default `run_dir/logs`); one
    `.eval` file per original log, named by its stem. One clear error for a run directory without records, a
    missing or corrupt records file, records that name no log, and two logs whose names collide."""
    from inspect_ai.log import write_eval_log

    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run directory {str(run_dir)!r} not found")
    records = samples_path(run_dir)
    if records is None:
        raise ValueError(f"{str(run_dir)!r} holds no per-sample records (a samples/ directory of part files or a "
                         "samples.parquet); nothing to rebuild logs from")
    df = read_samples(records)
    out = Path(out) if out is not None else run_dir / "logs"
    logged = df[df["log"].fillna("").astype(str) != ""]
    summary = Summary(out=out, without_log=len(df) - len(logged))
    if logged.empty:
        raise ValueError(f"the records in {str(records)!r} name no Inspect log ({len(df)} records, none with a `log`); "
                         "nothing to rebuild")
    # one log file recorded by two writers, as a path and as a file:// URL, is one log
    logged = logged.assign(log=logged["log"].astype(str).map(lambda v: v.removeprefix("file://")))
    by_stem: dict[str, str] = {}
    for location in logged["log"].unique():
        other = by_stem.setdefault(log_stem(location), location)
        if other != location:
            raise ValueError(f"logs {other!r} and {location!r} have the same file name; cannot rebuild both into "
                             f"{str(out)!r}")
    for location, rows in logged.groupby("log", sort=True):
        path = out / f"{log_stem(location)}.eval"
        if path.exists() and not _is_rebuilt(path):
            summary.kept.append(path.name)  # a real Inspect log of the same name: never replaced
            continue
        log, why = build_log(location, rows, records)
        write_with(path, lambda tmp, log=log: write_eval_log(log, str(tmp), format="eval"))
        summary.logs += 1
        summary.samples += len(log.samples or [])
        if why:
            summary.not_rebuilt[path.name] = why
            say(f"{path.name}: inputs not rebuilt: {why}")
    summary.seconds = time.perf_counter() - t0
    return summary
