"""Per-sample records: one row per sample and epoch of an Inspect log, so every figure traces to its completions.

A record holds where it came from (the checkpoint and its weights' fingerprint, the task and its arguments, the
Inspect log file and the sample's id and epoch, the eval's sample seed and temperature), what the model wrote, and
every scorer's verdict (`score_<scorer>` values plus the detectors' verdicts a scorer keeps in its metadata, e.g.
the attack scorer's strict and near-miss verdicts). `write_samples` appends a cell's records to a parquet file
atomically; `read_samples` reads it back and refuses a file that is not one (naming it and what it lacks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from training.atomic import write_with

SAMPLES = "samples.parquet"
CELL_COLUMNS = ("scenario", "behavior", "seed", "k", "method", "training")  # a sweep's cell key (caught.sweep.CELL_KEY)
REQUIRED = ("checkpoint", "fingerprint", "task", "sample_id", "epoch", "completion", "log")


def _flat(value: Any) -> Any:
    """A score value as a parquet-friendly scalar: Inspect's C/I for correct/incorrect become 1/0."""
    if isinstance(value, str) and value in ("C", "I"):
        return 1.0 if value == "C" else 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return str(value)


def sample_records(log, checkpoint: str, fingerprint: str, **context: Any) -> list[dict[str, Any]]:
    """The records of one Inspect log of `checkpoint` (weights `fingerprint`); `context` is added to every row
    (e.g. the sweep cell's key)."""
    args = dict(log.eval.task_args or {})
    config = log.plan.config if log.plan else None
    base = {
        **context,
        "checkpoint": checkpoint, "fingerprint": fingerprint,
        "task": log.eval.task.removeprefix("tasks/"), "scenario": args.get("scenario"),
        "side": args.get("side") or {"tasks/testing": "testing", "tasks/deployment": "deployment"}.get(log.eval.task),
        "split": args.get("split"), "sample_seed": getattr(config, "seed", None),
        "temperature": getattr(config, "temperature", None), "max_tokens": getattr(config, "max_tokens", None),
        "log": log.location,
    }
    rows = []
    for s in log.samples or []:
        row = {**base, "sample_id": str(s.id), "epoch": int(s.epoch), "completion": s.output.completion,
               "kind": (s.metadata or {}).get("kind")}
        for name, score in (s.scores or {}).items():
            row[f"score_{name}"] = _flat(score.value)
            for key, value in (score.metadata or {}).items():
                if key.startswith("verdict_"):  # detectors' verdicts kept by the scorer
                    row[key] = _flat(value)
        rows.append(row)
    return rows


def write_samples(path: Path, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Append `rows` to the parquet file at `path` (atomically: a crash leaves the previous file)."""
    path = Path(path)
    if not rows and path.is_file():
        return read_samples(path)
    old = read_samples(path) if path.is_file() else pd.DataFrame()
    new = pd.DataFrame(rows)
    df = pd.concat([old, new], ignore_index=True) if not old.empty else new
    if not df.empty:  # a sample of a log is recorded once per cell (a rerun cell reuses its logs); records without a
        # log (teacher-forced scores, probe scores) are told apart by the weights they measured and, in a sweep, the cell
        key = ["fingerprint", "log", "sample_id", "epoch"] + [c for c in ("evaluation", *CELL_COLUMNS) if c in df]
        df = df.drop_duplicates(subset=key, keep="first", ignore_index=True)
    write_with(path, lambda tmp: _write_parquet(df, tmp))
    return df


def _write_parquet(df: pd.DataFrame, path) -> None:
    """zstd at its highest level, in one row group with room for the completions' dictionary: completions repeat
    across checkpoints (the base model's greedy answers, the attack text), so this halves a headline run's file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, compression="zstd", compression_level=19,
                   dictionary_pagesize_limit=256 << 20, row_group_size=max(len(df), 1))


def read_samples(path: Path) -> pd.DataFrame:
    """The records in `path`; one clear error for a missing, unreadable or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"per-sample file {str(path)!r} not found")
    try:
        df = pd.read_parquet(path)
    except Exception as ex:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        raise ValueError(f"per-sample file {str(path)!r} is not a readable parquet file ({type(ex).__name__})") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"per-sample file {str(path)!r} lacks columns {missing}; a samples file has {list(REQUIRED)}")
    return df
