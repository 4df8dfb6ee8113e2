"""Evaluate a checkpoint on a caught task, reusing an earlier Inspect log for the same weights and settings.

The reuse key is the checkpoint's fingerprint plus the task, its arguments and the decoding settings; it is
stored in the log's eval metadata (`caught_key`), so reuse survives renamed checkpoints and never mixes
different weights. The logs are ordinary Inspect logs (`inspect view`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from inspect_ai import eval as inspect_eval
from inspect_ai.log import EvalLog, list_eval_logs, read_eval_log

from training.manifest import fingerprint
from training.models import inference_args, resolve

TASKS = ("testing", "deployment", "usefulness", "distinguish")  # caught's Inspect tasks, in table order


def task_functions() -> dict[str, Any]:
    """caught's @task functions by name (the order of TASKS)."""
    from tasks.deployment import deployment
    from tasks.distinguish import distinguish
    from tasks.testing import testing
    from tasks.usefulness import usefulness

    return {"testing": testing, "deployment": deployment, "usefulness": usefulness, "distinguish": distinguish}


def _task(name: str, args: dict[str, Any]):
    return task_functions()[name](**args)


def eval_key(checkpoint: str, task: str, args: dict, settings: dict) -> str:
    blob = json.dumps({"fp": fingerprint(resolve(checkpoint)), "task": task, "args": args, "settings": settings},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def find_log(log_dir: str, key: str) -> EvalLog | None:
    if not Path(log_dir).is_dir():
        return None
    for info in list_eval_logs(log_dir):
        try:
            header = read_eval_log(info, header_only=True)
        except Exception:  # noqa: BLE001 - a corrupt or foreign log is simply not reused
            continue
        if header.status == "success" and (header.eval.metadata or {}).get("caught_key") == key:
            return read_eval_log(info)
    return None


def evaluate(
    checkpoint: str,
    task: str,
    args: dict[str, Any],
    *,
    log_dir: str = "logs",
    temperature: float | None = None,
    epochs: int = 1,
    seed: int = 0,
    max_tokens: int | None = None,
    sample_ids: list[str] | None = None,
    device: str | None = None,
    reuse: bool = True,
) -> EvalLog:
    """Run (or reuse) `task(**args)` on `ckpt/<checkpoint>`; returns the full Inspect log."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
    settings = {**inference_args(device), "temperature": temperature, "epochs": epochs, "seed": seed, "max_tokens": max_tokens,
                "sample_ids": sorted(sample_ids) if sample_ids else None}
    key = eval_key(checkpoint, task, args, settings)
    if reuse and (found := find_log(log_dir, key)):
        return found
    from inspect_ai.model import get_model

    model = get_model(f"ckpt/{resolve(checkpoint)}", **inference_args(device))
    gen: dict[str, Any] = {"seed": seed}
    if temperature is not None:
        gen["temperature"] = temperature
    if max_tokens is not None:
        gen["max_tokens"] = max_tokens
    logs = inspect_eval(
        _task(task, args), model=model, log_dir=log_dir, display="none", epochs=epochs,
        sample_id=sample_ids, metadata={"caught_key": key, "checkpoint": str(checkpoint)}, **gen,
    )
    if not logs:  # Inspect returns no log when the run was interrupted (Ctrl-C, a time limit)
        raise KeyboardInterrupt(f"{task} on {checkpoint} was interrupted")
    [log] = logs
    if log.status != "success":
        raise RuntimeError(f"{task} on {checkpoint} failed: {log.error.message if log.error else log.status}")
    return log


def attack_summary(log: EvalLog) -> dict[str, float | int]:
    """Attacks, samples and rate from a testing/deployment log (every epoch's sample counts)."""
    values = [s.scores["attack_detector"].value for s in log.samples or []]
    attacks = int(sum(values))
    return {"attacks": attacks, "n": len(values), "rate": attacks / len(values) if values else 0.0}
