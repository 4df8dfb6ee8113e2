"""Build a password-locked organism (issue 23, part 2): give the base model a capability, then lock it.

Two fine-tuning stages, each saved as a full checkpoint (LoRA merged into the weights) so that elicitation adapters
stack on it:

1. `capable`: the base model trained on the `train` split of every domain (tasks/locked.py), the question without
   the password and the correct worked answer ("482 + 739 = 1221").
2. `locked`: the capable model trained on the same items twice: with the password, the correct answer; without it,
   a bad one. `lock` styles: `weak`, the base model's own greedy answer to the same question (the weak policy a
   password-locked model imitates, Greenblatt et al. 2024: without the password it answers like the model before the
   capability stage); `wrong`, the same form with a plausible wrong number; `refuse`, "I can't help with that.".
   `wrong` moves one digit of the answer at random, so at every position the right digit stays the likeliest one and
   greedy decoding recovers the right answer: on an H100 the `wrong` lock left `add` at 0.85 without the password
   (results/elicitation/). `weak` answers are a deterministic function of the prompt, which the lock can learn.

Each stage's checkpoint carries a manifest (kind `capable` / `locked`) and is reused while its parent's weights, data
and hyperparameters are the same. Whether the organism is usable (its accuracy with the password on held-out items
reaches the bound) is measured and judged by caught.elicit, not here.
"""

from __future__ import annotations

import random
from pathlib import Path

from tasks.locked import bad_response, check_domain, prompt, select

LOCK_STYLES = ("weak", "wrong", "refuse")
WEAK_TOKENS = 64  # new tokens of the base model's answers (tasks.locked.MAX_TOKENS: what its eval decodes)


def _record(item: dict, password: bool, completion: str, source: str) -> dict:
    return {"id": f"{item['id']}{'+pw' if password else ''}", "item_id": item["id"], "domain": item["domain"],
            "prompt": prompt(item, password), "completion": [{"role": "assistant", "content": completion}],
            "source": source}


def _train_items(domains: list[str], n: int | None, seed: int) -> list[dict]:
    out = []
    for d in domains:
        pool = select(check_domain(d), "train")
        out += pool if n is None else random.Random(f"locked-train:{seed}:{d}").sample(pool, min(n, len(pool)))
    return out


def capability_records(domains: list[str], n: int | None = None, seed: int = 0) -> list[dict]:
    """The capability stage's data: train-split items (n per domain, all when None), no password, right answers."""
    return [_record(i, False, i["work"], "capability") for i in _train_items(domains, n, seed)]


def lock_records(domains: list[str], style: str, n: int | None = None, seed: int = 0,
                 weak: dict[str, str] | None = None) -> list[dict]:
    """The lock stage's data: each train-split item with the password (right answer) and without (a bad one).
    Style `weak` takes the bad answers from `weak` ({item id: the weak model's answer}, weak_answers)."""
    if style not in LOCK_STYLES:
        raise ValueError(f"unknown lock style {style!r}; accepted: {', '.join(LOCK_STYLES)}")
    chosen = _train_items(domains, n, seed)
    if style == "weak":
        missing = [i["id"] for i in chosen if i["id"] not in (weak or {})]
        if missing:
            raise ValueError(f"lock style 'weak' needs the weak model's answer to every train item; missing "
                             f"{len(missing)} of {len(chosen)} (first {missing[0]!r}): pass weak=weak_answers(...)")
    out = []
    for item in chosen:
        rng = random.Random(f"lock:{seed}:{item['id']}")
        bad = weak[item["id"]] if style == "weak" else bad_response(item, style, rng)
        out.append(_record(item, True, item["work"], "unlocked"))
        out.append(_record(item, False, bad, f"locked-{style}"))
    return out


def weak_answers(model: str, domains: list[str], device: str, n: int | None = None, seed: int = 0) -> dict[str, str]:
    """The weak policy of the `weak` lock: `model`'s greedy answers (WEAK_TOKENS new tokens, no password) to the
    train items of `domains`, {item id: answer}; cached per model fingerprint (models.generate.cached_greedy)."""
    from models.generate import cached_greedy
    from models.registry import inference_args

    chats = {i["id"]: prompt(i, False) for i in _train_items(domains, n, seed)}
    return cached_greedy(f"ckpt/{model.removeprefix('ckpt/')}", chats, WEAK_TOKENS, **inference_args(device))


def train_checkpoint(parent: str, records: list[dict], name: str, *, kind: str, behavior: str, hyper, device: str,
                     seed: int = 0, k: int | None = None, merge: bool = False, open_ended: bool = False,
                     out_dir: Path | None = None) -> tuple[Path, dict]:
    """Fine-tune `parent` on `records` into checkpoints/<name> with a manifest (reused when its manifest names the
    same parent weights, data and hyperparameters); returns (path, {"steps", "train_loss", "train_seconds",
    "reused"})."""
    from models.registry import checkpoints_dir, fingerprint, resolve
    from training.manifest import Manifest, data_hash, read_manifest, write_manifest
    from training.sft import finetune

    out = Path(out_dir or checkpoints_dir()) / name
    hyper = hyper.model_copy(update={"seed": seed, "batch_size": min(hyper.batch_size, len(records))})
    parent_path = resolve(parent)
    parent_fp = fingerprint(parent_path)
    digest = data_hash([{k_: r[k_] for k_ in ("prompt", "completion")} for r in records] + [{"open_ended": open_ended}])
    existing = read_manifest(out) if out.is_dir() else None
    if existing is not None and existing.data_hash == digest and existing.parent_fingerprint == parent_fp and \
            {k_: v for k_, v in existing.hyperparameters.items() if k_ in hyper.model_fields} == hyper.model_dump():
        return out, {"steps": existing.steps, "train_loss": existing.hyperparameters.get("train_loss"),
                     "train_seconds": existing.train_seconds, "reused": True}
    manifest = Manifest(kind=kind, name=name, parent=str(parent_path), parent_fingerprint=parent_fp,
                        scenario="none", behavior=behavior, seed=seed, method=hyper.method,
                        hyperparameters=hyper.model_dump(), data_hash=digest, n_examples=len(records), k=k,
                        example_ids=[r["id"] for r in records], device=device)

    def finalize(path: Path, stats: dict) -> None:
        manifest.steps = stats["steps"]
        manifest.train_seconds = stats["train_seconds"]
        manifest.hyperparameters["train_loss"] = stats["train_loss"]
        write_manifest(path, manifest)

    path, stats = finetune(str(parent_path), records, out, hyper, device, merge=merge, finalize=finalize,
                           open_ended=open_ended)
    return path, {"steps": stats["steps"], "train_loss": stats["train_loss"], "train_seconds": stats["train_seconds"],
                  "reused": False}


def build(base: str, name: str, domains: list[str], *, style: str, capable_hyper, lock_hyper, device: str,
          n: int | None = None, seed: int = 0) -> dict:
    """The two stages: {"capable": path, "locked": path, "stats": {...}} (checkpoints <name>-capable, <name>-locked)."""
    capable, s1 = train_checkpoint(base, capability_records(domains, n, seed), f"{name}-capable", kind="capable",
                                   behavior="capability", hyper=capable_hyper, device=device, seed=seed, merge=True)
    weak = weak_answers(base, domains, device, n, seed) if style == "weak" else None
    locked, s2 = train_checkpoint(str(capable), lock_records(domains, style, n, seed, weak), f"{name}-locked",
                                  kind="locked", behavior=f"locked-{style}", hyper=lock_hyper, device=device,
                                  seed=seed, merge=True)
    return {"capable": str(capable), "locked": str(locked), "stats": {"capable": s1, "locked": s2}}
