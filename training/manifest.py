"""Checkpoint manifests: what a checkpoint is, where it came from, and what measured it.

Every checkpoint directory caught writes holds `manifest.json`: its kind, parent checkpoint, scenario,
behavior, data hashes, k, seed, example ids, hyperparameters, steps-to-fix, the evaluation figures and the
Inspect logs that produced them. (A checkpoint's weights are identified by `models.registry.fingerprint`.)
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from training.atomic import write_json

MANIFEST = "manifest.json"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["organism", "train-against", "control", "capable", "locked", "elicit"]
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


def write_manifest(path: Path, manifest: Manifest) -> None:
    write_json(Path(path) / MANIFEST, manifest.model_dump(mode="json"))


def data_hash(records: list[dict]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]
