"""Per-sample records: one row per sample and epoch of an Inspect log, so every figure traces to its completions.

A record holds where it came from (the checkpoint and its weights' fingerprint, the task and its arguments (the
framing ones as columns, all of them as JSON in `task_args`, from which `caught logs` rebuilds the inputs), the
Inspect log file and the sample's id and epoch, the eval's sample seed and temperature), what the model wrote, and
every scorer's verdict (`score_<scorer>` values plus the detectors' verdicts a scorer keeps in its metadata, e.g.
the attack scorer's strict and near-miss verdicts).

A run keeps its records in a directory of part files, `<run>/samples/part-<key>-<hash>.parquet`: `write_part`
writes one part per key (a sweep cell, a group's evaluations, a ladder rung) atomically and never reads or
rewrites another, so writing a cell costs the same late in a run as early and shard processes need no lock for
it; writing the same key again replaces its part. `read_samples` reads a directory's parts (or one packed
`samples.parquet`, as committed under results/), drops the rows recorded twice (a cell rerun after a crash, a
packed file taken back by a resumed run) and refuses a file that is not a records file, naming it and what it
lacks. `pack_samples` turns a run's parts into one packed file for committing (`write_packed` writes one from
rows, as `caught compare` does); `adopt_packed` takes a packed file back as a part, so a run resumed from
committed results keeps its earlier records.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from training.atomic import write_with

SAMPLES = "samples"  # a run's records: a directory of part files
PACKED = "samples.parquet"  # a run's records in one file (committed results, `caught compare`, older runs)
# a sweep's cell key (caught.sweep.CELL_KEY); organism_steps: the organism's training budget on a strength ladder, 0
# where the sweep has none (the organism recipe's own steps), as in rows and records from before the ladder
CELL_COLUMNS = ("scenario", "behavior", "seed", "k", "method", "training", "organism_steps")
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
        "scenario": args.get("scenario"),  # the context's (a sweep cell's) wins: a task without one (capability)
        **context,                         # must not blank the cell's scenario
        "checkpoint": checkpoint, "fingerprint": fingerprint,
        "task": log.eval.task.removeprefix("tasks/"),
        "side": args.get("side") or {"tasks/testing": "testing", "tasks/deployment": "deployment"}.get(log.eval.task),
        "split": args.get("split"), "sample_seed": getattr(config, "seed", None),
        "temperature": getattr(config, "temperature", None), "max_tokens": getattr(config, "max_tokens", None),
        "log": log.location,
        # every argument the task was built with (defaults too), so the sample's input can be rebuilt (caught.logs)
        "task_args": json.dumps(args, sort_keys=True, default=str),
    }
    rows = []
    for s in log.samples or []:
        row = {**base, "sample_id": str(s.id), "epoch": int(s.epoch), "completion": s.output.completion,
               "kind": (s.metadata or {}).get("kind")}
        if "variant" in (s.metadata or {}):  # a held-out cue variant (tasks/heldout.py) framed this sample
            row["variant"] = s.metadata["variant"]
        for name, score in (s.scores or {}).items():
            row[f"score_{name}"] = _flat(score.value)
            for key, value in (score.metadata or {}).items():
                if key.startswith("verdict_"):  # detectors' verdicts kept by the scorer
                    row[key] = _flat(value)
        rows.append(row)
    return rows


def samples_path(run_dir: Path) -> Path | None:
    """Where `run_dir` keeps its records: its `samples/` directory, else its packed `samples.parquet`, else None."""
    for name in (SAMPLES, PACKED):
        if (Path(run_dir) / name).exists():
            return Path(run_dir) / name
    return None


def part_name(key: dict[str, Any]) -> str:
    """The part file of `key` (e.g. a sweep cell's key): its values, readable, and a hash of the whole key, so the
    same key always names the same part and two keys never share one."""
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", "_".join(str(v) for v in key.values())).strip("-")[:80]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"part-{slug}-{digest}.parquet"


def write_part(samples_dir: Path, key: dict[str, Any], rows: list[dict[str, Any]]) -> Path:
    """Write `rows` as `key`'s part in `samples_dir` (atomically), replacing that part if it is there; no rows
    remove it. Other parts are neither read nor touched. Returns the part's path."""
    path = Path(samples_dir) / part_name(key)
    if not rows:
        path.unlink(missing_ok=True)
        return path
    df = pd.DataFrame(rows)
    write_with(path, lambda tmp: _write_parquet(df, tmp))
    return path


def write_packed(path: Path, rows: list[dict[str, Any]] | pd.DataFrame) -> Path:
    """Write `rows` as one packed records file at `path` (atomically), replacing it. Returns `path`."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    return write_with(Path(path), lambda tmp: _write_parquet(df, tmp))


def _write_parquet(df: pd.DataFrame, path) -> None:
    """zstd at its highest level, in one row group with room for the completions' dictionary: completions repeat
    across checkpoints (the base model's greedy answers, the attack text), so this halves a headline run's file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, compression="zstd", compression_level=19,
                   dictionary_pagesize_limit=256 << 20, row_group_size=max(len(df), 1))


def read_samples(path: Path) -> pd.DataFrame:
    """The records in `path`: a `samples/` directory of parts or one packed file, each sample once. One clear error
    for a missing path and for a part that is unreadable or not a records file (naming that part)."""
    import pyarrow as pa

    path = Path(path)
    if path.is_dir():
        parts = sorted(path.glob("part-*.parquet"))  # not the writers' temp files (.part-*)
    elif path.is_file():
        parts = [path]
    else:
        raise ValueError(f"per-sample records {str(path)!r} not found; expected a samples/ directory of part files "
                         f"or a {PACKED} file")
    if not parts:
        return pd.DataFrame(columns=list(REQUIRED))
    tables = [_read_part(p) for p in parts]
    try:  # parts of different evaluations have different score columns: the missing ones are null
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as ex:
        raise ValueError(f"per-sample parts in {str(path)!r} disagree on a column's type ({ex})") from None
    return _dedupe(with_organism_steps(table.to_pandas()))


def with_organism_steps(df: pd.DataFrame) -> pd.DataFrame:
    """A sweep's rows or records with `organism_steps` filled: 0 (no strength ladder) where they predate it."""
    if "training" in df and "k" in df:  # a sweep's (not the sycophancy ladder's)
        steps = df["organism_steps"] if "organism_steps" in df else pd.Series(0, index=df.index)
        df["organism_steps"] = steps.fillna(0).astype(int)
    return df


def part_key(cell: dict[str, Any], columns) -> dict[str, Any]:
    """A part's key: `columns` of `cell`, less organism_steps where it is 0 (no ladder: the name it had before)."""
    return {c: cell[c] for c in columns if not (c == "organism_steps" and not cell.get(c))}


def _read_part(path: Path):
    """One part (or packed file) as an arrow table, refused unless it is a readable records file."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as ex:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        raise ValueError(f"per-sample file {str(path)!r} is not a readable parquet file ({type(ex).__name__})") from None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise ValueError(f"per-sample file {str(path)!r} lacks columns {missing}; a samples file has {list(REQUIRED)}")
    return table


def _dedupe(df: pd.DataFrame) -> pd.DataFrame:
    """Each sample once: a sample of a log is recorded once per cell (a rerun cell reuses its logs); records without
    a log (teacher-forced scores, probe scores) are told apart by the weights they measured and, in a sweep, the
    cell."""
    key = ["fingerprint", "log", "sample_id", "epoch"] + [c for c in ("evaluation", *CELL_COLUMNS) if c in df]
    return df.drop_duplicates(subset=key, keep="first", ignore_index=True)


MAX_PACKED_BYTES = 2 << 20  # the repository's bound on a committed file


def pack_samples(run_dir: Path, max_bytes: int = MAX_PACKED_BYTES,
                 by: str | Sequence[str] = ("scenario", "seed")) -> Path:
    """Pack `run_dir`'s parts into one `samples.parquet` (for committing under results/: one file, compressed as a
    whole), then remove the parts. Returns the packed file.

    Records that pack into more than `max_bytes` are packed per value of the first column of `by` instead (one packed
    part per scenario, `samples/part-packed-<value>-<hash>.parquet`, the other parts removed), and `samples/` is
    returned; a value whose records alone pack over `max_bytes` is packed per value of the next column (one part per
    scenario and seed, `part-packed-<scenario>-<seed>-<hash>.parquet`), and so on. Records that still pack over it
    with no column left to split by are refused, naming their values, before anything is removed."""
    run_dir = Path(run_dir)
    columns = [by] if isinstance(by, str) else list(by)
    parts = run_dir / SAMPLES
    if not parts.is_dir():
        raise ValueError(f"{str(parts)!r} is not a directory of per-sample parts; nothing to pack")
    records = read_samples(parts)
    tmp = Path(tempfile.mkdtemp(prefix="pack-", dir=run_dir))
    try:
        whole = write_packed(tmp / PACKED, records)
        if whole.stat().st_size <= max_bytes:
            shutil.rmtree(parts)
            return whole.replace(run_dir / PACKED)
        if not columns or columns[0] not in records:
            raise ValueError(f"the records pack into {whole.stat().st_size} bytes, over {max_bytes}, and have no "
                             f"column {columns[0] if columns else None!r} to pack them by; accepted: one of "
                             f"{sorted(records.columns)}")
        split = _packed_split(records, columns, max_bytes, tmp, [])
        shutil.rmtree(parts)
        parts.mkdir()
        for part, name in split:
            part.replace(parts / name)
        return parts
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _value_name(value) -> str:
    """A column value as it names a packed part: a whole number without its ".0" (a seed read as a float), a missing
    value as "none"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _packed_split(records: pd.DataFrame, columns: list[str], max_bytes: int, tmp: Path,
                  path: list[tuple[str, str]]) -> list[tuple[Path, str]]:
    """(packed file in tmp, its part name) for `records` split per value of columns[0], each value over `max_bytes`
    split again by the next column; `path`: the (column, value) pairs that selected `records`."""
    column, rest = columns[0], columns[1:]
    names = records[column].map(_value_name)
    out = []
    for value, rows in records.groupby(names, sort=True):
        here = path + [(column, value)]
        label = re.sub(r"[^A-Za-z0-9._]+", "-", "-".join(v for _, v in here))
        part = write_packed(tmp / f"part-packed-{label}.parquet", rows.reset_index(drop=True))
        if part.stat().st_size <= max_bytes:
            digest = hashlib.sha256(part.read_bytes()).hexdigest()[:12]
            out.append((part, f"part-packed-{label}-{digest}.parquet"))
            continue
        size = part.stat().st_size
        part.unlink()
        if not rest or rest[0] not in rows:
            which = ", ".join(f"{c} = {v!r}" for c, v in here)
            raise ValueError(f"the records of {which} alone pack into {size} bytes, over {max_bytes}; nothing was "
                             "removed")
        out += _packed_split(rows, rest, max_bytes, tmp, here)
    return out


def adopt_packed(run_dir: Path) -> Path | None:
    """Move `run_dir`'s packed `samples.parquet` (a resumed run's committed records) into its `samples/` directory
    as a part, so that records written from now on sit beside it. Returns that part, or None if there was none."""
    packed = Path(run_dir) / PACKED
    if not packed.is_file():
        return None
    _read_part(packed)  # refuse a file that is not a records file before moving it
    digest = hashlib.sha256(packed.read_bytes()).hexdigest()[:12]
    part = Path(run_dir) / SAMPLES / f"part-packed-{digest}.parquet"
    part.parent.mkdir(parents=True, exist_ok=True)
    packed.replace(part)
    return part


def drop_records(samples: Path, where: dict[str, Any]) -> int:
    """Remove the records whose columns equal every value of `where` (e.g. one sweep group's scenario, behavior and
    seed; a set of values matches any of them) from `samples` (a `samples/` directory of parts, or one packed file): each part holding some is rewritten
    without them (atomically), or removed when none is left. Returns how many records were removed."""
    samples = Path(samples)
    parts = sorted(samples.glob("part-*.parquet")) if samples.is_dir() else [samples] if samples.is_file() else []
    removed = 0
    for part in parts:
        df = _read_part(part).to_pandas()
        if not all(c in df for c in where):
            continue
        hit = pd.Series(True, index=df.index)
        for column, value in where.items():
            values = value if isinstance(value, (set, frozenset, list, tuple)) else [value]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                # numbers by value: a seed column holding a missing value reads as floats (0.0 is seed 0)
                hit &= pd.to_numeric(df[column], errors="coerce").isin(values)
            else:
                hit &= df[column].astype(str).isin({str(v) for v in values})
        if not hit.any():
            continue
        removed += int(hit.sum())
        kept = df[~hit]
        if kept.empty:
            part.unlink()
        else:
            write_with(part, lambda tmp, kept=kept: _write_parquet(kept.reset_index(drop=True), tmp))
    return removed
