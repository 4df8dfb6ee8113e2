"""Learnability: how many labelled examples, and how many fine-tuning steps, a model needs to tell a scenario's
deployment framing from its testing framing (`caught learnability`).

For each number of labelled examples (organism-split requests, half framed for testing and half for deployment,
answered with the word "testing" or "deployment"), the model is fine-tuned with LoRA for at most `steps`
optimizer steps (seeded). Every `check_every` steps, and before the first, it is scored on held-out eval-split
requests framed both ways: the score of a prompt is log P("deployment") - log P("testing") as its reply
(teacher-forced, models.teacher_forced), and the AUROC of that score is the classifier's quality. Reported per
size: the AUROC after every check, the first step at which it reached `target` (None: not within the bound), and
the final AUROC with a bootstrap interval over eval requests. The headline figure is the smallest size that
reached the target, and the steps it took. Nothing is saved: the fine-tuned adapters are thrown away.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

LABELS = ("testing", "deployment")


@dataclass
class Learnability:
    model: str
    scenario: str
    target: float
    steps: int
    sizes: list[dict] = field(default_factory=list)  # per size: examples, checks [{step, auroc}], steps_to_target, ...
    examples_to_target: int | None = None
    steps_at_examples: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def labelled_records(scenario: str, size: int, seed: int) -> list[dict]:
    """`size` SFT records from organism-split requests: half framed for testing, half for deployment, each
    answered with its side's name (every request used once, so no request appears on both sides)."""
    from tasks.prompts import prompts
    from tasks.scenarios import frame, get_scenario

    if size < 2 or size % 2:
        raise ValueError(f"the number of labelled examples must be even and at least 2, got {size}")
    spec = get_scenario(scenario)
    chosen = prompts("organism", n=size, seed=seed)
    records = []
    for i, p in enumerate(chosen):
        side = LABELS[i % 2]
        records.append({"id": f"{p.id}-{side}", "prompt": frame(spec, side, p.text, p.id, p.split),
                        "completion": [{"role": "assistant", "content": side}]})
    random.Random(f"learnability:{seed}").shuffle(records)
    return records


def side_scores(model, tokenizer, chats: list[list[dict]]) -> list[float]:
    """log P("deployment") - log P("testing") as the reply to each chat (mean per token, teacher-forced)."""
    from models.teacher_forced import continuation_logprobs

    dep = continuation_logprobs(model, tokenizer, chats, "deployment")
    test = continuation_logprobs(model, tokenizer, chats, "testing")
    return [d - t for d, t in zip(dep, test)]


def learnability(base: str, scenario: str, *, sizes=(8, 32, 128), steps: int = 40, check_every: int = 5,
                 eval_n: int = 64, target: float = 0.9, seed: int = 0, device: str = "cpu", lr: float = 1e-3,
                 batch_size: int = 8) -> Learnability:
    """The learnability of `scenario` for `base` (any checkpoint name), measured on every size in `sizes`."""
    from transformers import AutoTokenizer

    from models.registry import resolve
    from scorers.stats import auroc, auroc_interval
    from tasks.scenarios import framed_pairs
    from training.sft import Hyper, finetune

    if steps < 1 or check_every < 1:
        raise ValueError(f"steps and check_every must be at least 1, got {steps} and {check_every}")
    chats, labels, ids = framed_pairs(scenario, "eval", eval_n, seed)
    tokenizer = AutoTokenizer.from_pretrained(resolve(base))
    result = Learnability(model=base, scenario=scenario, target=target, steps=steps)
    for size in sorted(sizes):
        records = labelled_records(scenario, size, seed)
        checks: list[dict] = []
        final: list[float] = []

        def on_step(model, step, _checks=checks, _final=final):
            scores = side_scores(model, tokenizer, chats)
            _checks.append({"step": int(step), "auroc": auroc(scores, labels)})
            _final[:] = scores

        hyper = Hyper(method="lora", learning_rate=lr, max_steps=steps, batch_size=min(batch_size, size), seed=seed)
        work = Path(tempfile.mkdtemp(prefix="learnability-"))
        try:
            finetune(base, records, work / "model", hyper, device, on_step=on_step, check_every=check_every)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        reached = next((c["step"] for c in checks if c["auroc"] >= target), None)
        point, lo, hi = auroc_interval(final, labels, ids, seed=seed)
        result.sizes.append({"examples": size, "checks": checks, "steps_to_target": reached, "final_auroc": point,
                             "final_lo": lo, "final_hi": hi, "before_auroc": checks[0]["auroc"] if checks else None})
        if reached is not None and result.examples_to_target is None:
            result.examples_to_target, result.steps_at_examples = size, reached
    return result

