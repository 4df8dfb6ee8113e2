"""The base model's measurements of one scenario and behavior, made once per run directory and shared by every seed's
group (`eval.reuse_base`).

Without the option a sweep group measures the base model itself (its `distinguish` judge, its activation probe and
`caught.compare.evaluate_checkpoint`), at the group's seed, so a grid of five seeds measures the same model five
times. With it, `caught.sweep` measures the base model once per (scenario, behavior) at one fixed seed (the grid's
smallest, recorded in every row as `base_seed`) and every group of that scenario and behavior (any seed, any
organism budget) takes the same figures and records, the records labelled with the group's own cell key as if the
group had measured them.

It is kept in `runs/<name>/base/`: `<scenario>-<behavior>.json` (the row figures, the settings they were measured
under, the base model's weights fingerprint among them, and the size and hash of the records file) beside
`<scenario>-<behavior>.parquet` (the per-sample records, without a cell key). Shards and Ray workers share the
directory: the file's lock (`<scenario>-<behavior>.lock`) lets one process measure while the others wait, then read;
the records are written first and the JSON that names them last, each atomically (training.atomic), so a reader
never takes half a measurement, and a crash between the two leaves a JSON whose hash does not match (measured
again). A stored measurement made under other settings (other base weights, another seed, other eval settings) is
measured again and replaces it.

What the seed chooses (why `caught.config.EvalSpec` refuses the option with a partial usefulness or capability set):
the deployment/testing eval prompts (`tasks.prompts.prompts`: n of the eval split), the held-out variants' prompts,
the `also` behaviors' prompts, the teacher-forced prompts, the judge's pairs and the probe's fit and scoring
requests are drawn with the seed, as is the sampling seed of the attack evaluations. Those base figures are
reference rates (the base model's attack rate, about 0; its distinguishability), which the fixed seed's draw
measures as well as any other. The usefulness and capability items are drawn with the seed only when their `n` is
below the pool's size; the capability gate pairs the base model's items with the checkpoint's, so with the option
on they must be every item (then the set is the same for every seed; framing and greedy decoding do not depend on
the seed).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from training.atomic import write_json
from training.records import write_packed

FOLDER = "base"  # under the run directory


def base_seed(seeds: list[int]) -> int:
    """The seed the shared base measurement is made at: the grid's smallest (the same for every shard and `--only`)."""
    return min(seeds)


def plain(value: Any) -> Any:
    """`value` as JSON keeps it: numpy scalars as Python numbers (a JSON writer would make strings of them)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str | bytes) else value


def _comparable(settings: dict) -> Any:
    """`settings` as they read back from JSON (tuples become lists), for comparing with stored ones."""
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def paths(directory: Path, scenario: str, behavior: str) -> tuple[Path, Path, Path]:
    """The JSON, the records file and the lock of (scenario, behavior) in `directory`."""
    stem = Path(directory) / f"{scenario}-{behavior}"
    return stem.with_suffix(".json"), stem.with_suffix(".parquet"), stem.with_suffix(".lock")


def read_stored(directory: Path, scenario: str, behavior: str, settings: dict) -> tuple[dict, list[dict]] | None:
    """The stored (figures, records) of (scenario, behavior), or None where there are none, they were measured under
    other settings, or the records file is missing or is not the one the JSON names."""
    info_file, records_file, _ = paths(directory, scenario, behavior)
    if not info_file.is_file():
        return None
    try:
        info = json.loads(info_file.read_text())
    except json.JSONDecodeError:
        return None
    if info.get("settings") != _comparable(settings) or not records_file.is_file():
        return None
    if _digest(records_file) != info.get("records_sha256"):
        return None
    records = pd.read_parquet(records_file).to_dict("records")
    if len(records) != info.get("records_n"):
        return None
    figures = info["figures"]  # (json writes and reads NaN as it is)
    # which measurement this is (rows: base_measurement): a run resumed elsewhere without this folder measures the
    # base model again at the same seed, and the report must count two measurements as two, each once
    return {**figures, "base_measurement": info["records_sha256"][:12]}, records


def why_not(directory: Path, scenario: str, behavior: str, settings: dict) -> str:
    """Why a stored measurement is not taken: a short phrase for the progress line."""
    info_file, _, _ = paths(directory, scenario, behavior)
    if not info_file.is_file():
        return "none stored"
    try:
        stored = json.loads(info_file.read_text()).get("settings", {})
    except json.JSONDecodeError:
        return f"{info_file} is not readable"
    now = _comparable(settings)
    changed = sorted(k for k in set(stored) | set(now) if stored.get(k) != now.get(k))
    return (f"the stored one was measured under other {', '.join(changed)}" if changed
            else "its records file is missing or does not match")


def shared_base(directory: Path, scenario: str, behavior: str, settings: dict,
                measure: Callable[[], tuple[dict, list[dict]]],
                say: Callable[[str], None] = print) -> tuple[dict, list[dict]]:
    """The base model's (figures, records) of (scenario, behavior) measured under `settings`: the stored ones where
    `directory` holds them, else `measure()`'s, stored first. Under the file's lock, so that of several processes
    asking at once one measures and the others read what it stored. Every caller gets what was stored (read back),
    the one that measured too."""
    from filelock import FileLock

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    info_file, records_file, lock = paths(directory, scenario, behavior)
    with FileLock(lock):
        stored = read_stored(directory, scenario, behavior, settings)
        if stored is not None:
            return stored
        say(f"measuring the base model on {scenario}/{behavior} once for every seed "
            f"({why_not(directory, scenario, behavior, settings)})")
        t0 = time.perf_counter()
        figures, records = measure()
        write_packed(records_file, records)  # first: the JSON below is what makes it a stored measurement
        write_json(info_file, {
            "scenario": scenario, "behavior": behavior, "settings": _comparable(settings),
            "figures": {k: plain(v) for k, v in figures.items()},
            "records": records_file.name, "records_n": len(records), "records_sha256": _digest(records_file),
            "seconds": round(time.perf_counter() - t0, 1),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        })
        stored = read_stored(directory, scenario, behavior, settings)
    if stored is None:  # written under the lock a moment ago: only a broken filesystem gets here
        raise RuntimeError(f"{info_file}: the base measurement just written does not read back")
    return stored
