"""Checkpoint manifests: what a checkpoint is, where it came from, and what measured it.

Every checkpoint directory caught writes holds `manifest.json`: its kind, parent checkpoint, scenario,
behavior, data hashes, k, seed, example ids, hyperparameters, steps-to-fix, the evaluation figures and the
Inspect logs that produced them. `fingerprint()` identifies a checkpoint's weights for log reuse.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST = "manifest.json"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["organism", "train-against", "control"]
    name: str
    parent: str  # the checkpoint it was trained from (name or path)
    parent_fingerprint: str | None = None
    scenario: str
    behavior: str
    seed: int
    method: Literal["lora", "full"]
    hyperparameters: dict[str, Any]
    data_hash: str
    n_examples: int
    k: int | None = None
    example_ids: list[str] = Field(default_factory=list)
    responses: str | None = None  # where the good responses came from (train-against)
    steps: int = 0
    steps_to_fix: int | None = None  # first checked step at which no trained input attacked; None = never
    fix_curve: list[dict[str, Any]] = Field(default_factory=list)  # per check: step, attacks, samples
    evaluation: dict[str, Any] = Field(default_factory=dict)
    logs: list[str] = Field(default_factory=list)
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    device: str | None = None
    train_seconds: float | None = None


def read_manifest(path: Path) -> Manifest | None:
    file = Path(path) / MANIFEST
    return Manifest.model_validate_json(file.read_text()) if file.is_file() else None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` via a temp file + rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_manifest(path: Path, manifest: Manifest) -> None:
    write_json_atomic(Path(path) / MANIFEST, manifest.model_dump(mode="json"))


def fingerprint(path: Path) -> str:
    """A short hash of a checkpoint's weights and config (cached per file state within a process)."""
    path = Path(path).resolve()
    files = sorted(path.glob("*.safetensors")) + [
        path / n for n in ("adapter_config.json", "config.json") if (path / n).is_file()
    ]
    return _fingerprint(tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))


@lru_cache(maxsize=64)
def _fingerprint(files: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, _, _ in files:
        h.update(Path(name).name.encode())
        with open(name, "rb") as fh:
            while chunk := fh.read(1 << 24):
                h.update(chunk)
    return h.hexdigest()[:16]


def data_hash(records: list[dict]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]
