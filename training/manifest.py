"""Checkpoint manifests: what a checkpoint is, where it came from, and what measured it.

Every checkpoint directory caught writes holds `manifest.json`: its kind, parent checkpoint, scenario,
behavior, data hashes, k, seed, example ids, hyperparameters, steps-to-fix, the evaluation figures and the
Inspect logs that produced them. (A checkpoint's weights are identified by `models.registry.fingerprint`.)
An organism's manifest also names its reasoning (none, scratchpad, distilled); a checkpoint trained from it
inherits it through its `parent` (`organism_reasoning`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasks.reasoning import REASONING_MODES
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
    # an organism built with bounds checks (training.organism.bounds_checker): the first checked step at which its
    # attack rates met the bounds (None = not within the steps trained), and every check
    steps_to_bounds: int | None = None
    bounds_curve: list[dict[str, Any]] = Field(default_factory=list)
    evaluation: dict[str, Any] = Field(default_factory=dict)
    logs: list[str] = Field(default_factory=list)
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    device: str | None = None
    train_seconds: float | None = None
    # the organism's chain-of-thought mode (caught.config.OrganismSpec.reasoning); None on a checkpoint trained from
    # another: it has its parent's (organism_reasoning)
    reasoning: str | None = None

    @model_validator(mode="after")
    def _organism_reasoning(self) -> "Manifest":
        """An organism manifest written before the field: its hyperparameters' `reasoning` (where scratchpad and
        distilled organisms recorded it), else "none"."""
        if self.kind == "organism" and self.reasoning is None:
            self.reasoning = self.hyperparameters.get("reasoning", "none")
        if self.reasoning is not None and self.reasoning not in REASONING_MODES:
            raise ValueError(f"manifest {self.name!r}: unknown reasoning {self.reasoning!r}; "
                             f"accepted: {', '.join(REASONING_MODES)}")
        return self


def read_manifest(path: Path) -> Manifest | None:
    file = Path(path) / MANIFEST
    return Manifest.model_validate_json(file.read_text()) if file.is_file() else None


def organism_reasoning(path: Path) -> str | None:
    """The reasoning of the organism behind the checkpoint at `path`: its own manifest's for an organism, else its
    parent's, followed up the `parent` chain to the organism. "none" where the chain ends without an organism (a
    model trained from a base model); None for a checkpoint without a manifest (a base model: it states none).
    A parent that cannot be found is one clear error: the mode is unknown, not "none"."""
    from models.registry import EMBEDDED, resolve

    path, seen = Path(path), []
    manifest = read_manifest(path)
    if manifest is None:
        return None
    while manifest.reasoning is None:
        seen.append(str(path.resolve()))
        if manifest.parent in EMBEDDED:
            return "none"
        try:
            path = resolve(manifest.parent)
        except ValueError:
            raise ValueError(f"the reasoning of the organism behind {seen[0]!r} is unknown: its manifest has none and "
                             f"its ancestor {manifest.parent!r} is not found; name it (caught compare --reasoning; "
                             f"accepted: {', '.join(REASONING_MODES)})") from None
        if str(path.resolve()) in seen:
            raise ValueError(f"manifest parents form a cycle at {str(path)!r}; accepted: a parent chain ending at "
                             "an organism or a base model")
        manifest = read_manifest(path)
        if manifest is None:
            return "none"
    return manifest.reasoning


def write_manifest(path: Path, manifest: Manifest) -> None:
    write_json(Path(path) / MANIFEST, manifest.model_dump(mode="json"))


def data_hash(records: list[dict]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]
