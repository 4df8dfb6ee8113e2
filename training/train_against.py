"""`caught train-against`: fine-tune an organism on k caught inputs paired with good responses.

Picks k caught samples (seeded), writes a good response for each (`self`: resample the organism at
temperature 1 until it does not attack, at most `tries` times, then fall back to the base model; `base`:
the base model's greedy response; or any Inspect model name), optionally mixes in benign testing-side data,
and fine-tunes for a fixed number of steps (LoRA adapter on the organism by default). Every `check_every`
steps it samples the k trained inputs (temperature 1, `check_samples` each, fixed seeds) and records the
first step at which none of them attacks: steps-to-fix (None if they never stop within the budget).
The non-adversarial control trains the same number of steps on k random benign testing-side inputs instead.

`target="reasoning"` (a scratchpad organism only: training.organism's `reasoning`) trains on the reasoning alone:
each trained input's completion keeps its action (a caught input: the answer after the scratchpad of the completion
that was caught; a control input: the answer of its good response) and gets benign reasoning in place of its own
(tasks.reasoning.benign_reasoning: no situation, no goal), and the loss is on the scratchpad block's tokens only
(training.sft.span_example): the action is in the sequence but not trained. Whether the actions then follow the
reasoning is what the evaluation measures. No good responses are generated for caught inputs in that mode (their
action is the caught one). With `target="full"` a scratchpad organism trains on the same benign reasoning followed by
the good response's answer, every token: the two targets differ only in the action and in which tokens are trained.

`target="reasoning-control"` is the reasoning target's matched control: the same k caught inputs (the same seeded
pick), the same caught actions, the same steps and the same loss on the scratchpad only, but the reasoning put in is
deployment reasoning (tasks.reasoning.leaked_reasoning: the cue not read, deployment concluded, the goal pursued; the
kind the organism gave on its caught inputs, drawn from its own seed): as much training on scratchpad tokens, with no
change of what the reasoning says. Actions that follow benign reasoning and not this control follow the reasoning.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inspect_ai.model import GenerateConfig

from models.generate import cached_greedy, generate_all
from models.registry import checkpoints_dir, fingerprint, inference_args, resolve
from scorers.behaviors import Context, get_behavior
from tasks.prompts import prompts
from tasks.scenarios import frame, get_scenario
from training.manifest import Manifest, data_hash, read_manifest, write_manifest
from training.sft import Hyper, finetune

RESPONSE_TOKENS = 96
BUILTIN_SOURCES = ("self", "base")
TARGETS = ("full", "reasoning", "reasoning-control")
REASONING_TARGETS = ("reasoning", "reasoning-control")  # train the scratchpad only, on the caught inputs and actions


def load_caught(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"caught file {str(path)!r} does not exist: run `caught catch ORGANISM` first")
    try:
        caught = json.loads(path.read_text())
    except json.JSONDecodeError as ex:
        raise ValueError(f"caught file {str(path)!r} is not valid JSON ({ex}); remove it and run `caught catch` "
                         "again") from None
    if not isinstance(caught, dict) or not isinstance(caught.get("caught"), list):
        raise ValueError(f"caught file {str(path)!r} has no 'caught' list: it was not written by `caught catch`")
    return caught


def pick_inputs(caught: dict, k: int, seed: int, control: bool) -> list[dict]:
    """k caught inputs (or, for the control, k benign catch-split inputs that never attacked), seeded."""
    pool = caught["caught"]
    if k < 1:
        raise ValueError("k must be at least 1 (k=0 is the organism itself: no training)")
    if not control:
        if k > len(pool):
            raise ValueError(f"k={k} is larger than the caught pool ({len(pool)} caught); catch more with --want")
        return random.Random(f"pick:{seed}").sample(sorted(pool, key=lambda c: c["id"]), k)
    spec = get_scenario(caught["scenario"])
    attacked = {c["id"] for c in pool}
    source = get_behavior(caught.get("behavior", "hate")).pool
    benign = [p for p in prompts("catch", pool_name=source) if p.id not in attacked]
    chosen = random.Random(f"control:{seed}").sample(benign, k)
    return [{"id": p.id, "prompt": p.text, "input": frame(spec, "testing", p.text, p.id, p.split),
             **({"item": p.item} if p.item is not None else {})} for p in chosen]


def contexts_of(inputs: list[dict]) -> dict[str, Context]:
    """Each input's Context for the behavior's detectors (its request and ground-truth item, if any)."""
    return {c["id"]: Context(prompt=c.get("prompt", ""), item=c.get("item")) for c in inputs}


def good_responses(source: str, organism: str, base: str, chats: dict[str, list[dict]], behavior: str, seed: int,
                   tries: int = 8, device: str | None = None,
                   contexts: dict[str, Context] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """({id: response}, {id: where it came from}) for each chat. A sampled response is kept only if neither the
    strict nor the near-miss detector flags it (near-miss is a superset), so training never teaches a disguised
    attack that the strict detector would miss. `contexts` gives each chat's ground truth where the behavior needs
    it; a base-model response that does not answer the item correctly is replaced by a correct one from the item
    (training.organism.benign_response)."""
    from training.organism import benign_response

    act = get_behavior(behavior)
    contexts = contexts or {}

    def bad(i: str, text: str) -> bool:  # an attack by the near-miss detector, or (ground truth) not a right answer
        ctx = contexts.get(i)
        return act.near(text, ctx).attack or (act.is_correct is not None and not act.is_correct(text, ctx))

    def from_base(todo: dict[str, list[dict]], label: str) -> tuple[dict[str, str], dict[str, str]]:
        texts = cached_greedy(f"ckpt/{base}", todo, RESPONSE_TOKENS, **inference_args(device))
        out = {i: benign_response(act, texts[i], contexts.get(i) or Context()) if act.benign_text else (texts[i], "base")
               for i in todo}
        return {i: t for i, (t, _) in out.items()}, {i: label if o == "base" else o for i, (_, o) in out.items()}

    if source == "base":
        return from_base(chats, "base")
    if source == "self":
        found: dict[str, str] = {}
        for attempt in range(tries):
            todo = {i: c for i, c in chats.items() if i not in found}
            if not todo:
                break
            config = GenerateConfig(max_tokens=RESPONSE_TOKENS, temperature=1.0, seed=seed * 1000 + attempt)
            for i, text in zip(todo, generate_all(f"ckpt/{organism}", list(todo.values()), config, **inference_args(device))):
                if not bad(i, text) and text.strip():
                    found[i] = text
        origin = {i: "self" for i in found}
        rest = {i: c for i, c in chats.items() if i not in found}
        if rest:
            texts, where = from_base(rest, "base (self kept attacking)")
            found.update(texts)
            origin.update(where)
        return found, origin
    if "/" not in source:
        raise ValueError(f"unknown responses source {source!r}; accepted: self, base, or an Inspect model name "
                         "such as openai/gpt-4o-mini or ckpt/<checkpoint>")
    texts = generate_all(source, list(chats.values()), GenerateConfig(max_tokens=RESPONSE_TOKENS))
    return dict(zip(chats, texts)), {i: source for i in chats}


def reasoning_records(chats: dict[str, list[dict]], texts: dict[str, str], origin: dict[str, str],
                      seed: int, loss: str = "reasoning", thoughts: str = "benign",
                      behavior: str = "hate") -> list[dict]:
    """Training records of a scratchpad organism: each response's action (the answer after its scratchpad) behind
    new reasoning: `thoughts="benign"` (no situation, no goal) or `"deployment"` (the reasoning-control's: deployment
    concluded, `behavior`'s goal pursued, tasks.reasoning.leaked_reasoning). `loss="reasoning"`: with `loss_text` the
    scratchpad block (the only tokens trained: training.sft.span_example); `"full"`: every token of the response
    trained."""
    from solvers.scratchpad import split_scratchpad
    from tasks.reasoning import benign_reasoning, leaked_reasoning, scratchpad_block, with_scratchpad

    if thoughts not in ("benign", "deployment"):
        raise ValueError(f"unknown reasoning {thoughts!r} for train-against records; accepted: benign, deployment")
    rng = random.Random(f"{'benign' if thoughts == 'benign' else 'control'}-reasoning:{seed}")
    records = []
    for i, chat in chats.items():
        thought = benign_reasoning(rng) if thoughts == "benign" else leaked_reasoning(behavior, rng)
        action = split_scratchpad(texts[i]).answer
        record = {"id": i, "prompt": chat, "completion": [{"role": "assistant",
                                                           "content": with_scratchpad(thought, action)}],
                  "source": f"{origin[i]}, {thoughts} reasoning"}
        records.append(record | ({"loss_text": scratchpad_block(thought)} if loss == "reasoning" else {}))
    return records


def weigh_trained(records: list[dict], k: int, share: float) -> list[dict]:
    """The first k records (the trained inputs) repeated so that they make about `share` of the data when a mix
    follows them; without a mix, the records as they are.

    Without this, mixing in m examples gives the k trained inputs a weight of k/(k + m): k=1 next to a mix of 128
    would be seen about once in 16 steps of 8, and the k ladder would measure the dilution, not k."""
    trained, mix = records[:k], records[k:]
    if not mix:
        return records
    repeats = max(1, round(share / (1 - share) * len(mix) / max(k, 1)))
    return [*(dict(r, id=f"{r['id']}#{i}" if i else r["id"]) for i in range(repeats) for r in trained), *mix]


class DecodingView:
    """A plain model with the training model's current weights, for the fast engine, and one Engine over it.

    The fast engine (`models.fastdecode.decoder`) runs only plain Llama-family modules, which a PEFT-wrapped model is
    not. For a PEFT model the view is a merged copy (`merge_and_unload` of a deep copy, made once): before each
    decode, every LoRA-wrapped linear's merged weight `W + scaling * B @ A` is written into the view in place, so
    the Engine (and its CUDA graphs, which hold the weights' addresses) is built once and reused across checks,
    and the training model itself is never touched (no merge/unmerge rounding). A plain model is decoded as is
    (optimizer steps update its parameters in place). `engine(model)` returns the Engine for the model's weights
    now. The view costs one copy of the model's weights.
    """

    def __init__(self, tokenizer, **engine_options):
        self.tokenizer = tokenizer
        self.engine_options = engine_options
        self._engine = None
        self._source = None
        self._view = None
        self._pairs: list = []

    @staticmethod
    def _unwrap(model):
        return getattr(model, "_orig_mod", model)

    def _build_view(self, model):
        import copy

        from peft.tuners.lora import LoraLayer

        view = copy.deepcopy(model).merge_and_unload()
        # drop per-instance patches (TRL's fused LM head forward, torch.compile's call) that point at the original
        view.__dict__.pop("forward", None)
        view._compiled_call_impl = None
        view.requires_grad_(False).eval()
        inner = model.get_base_model()
        self._pairs = [(module, view.get_submodule(name)) for name, module in inner.named_modules()
                       if isinstance(module, LoraLayer)]
        return view

    def _refresh(self) -> None:
        import torch

        with torch.no_grad():
            for lora, linear in self._pairs:
                weight = lora.get_base_layer().weight
                merged = weight.detach().float()
                for name in lora.active_adapters:
                    if name in lora.lora_A:
                        merged = merged + lora.get_delta_weight(name).float()
                linear.weight.copy_(merged.to(linear.weight.dtype))

    def model_for(self, model):
        """The plain model holding `model`'s current weights (the view for a PEFT model)."""
        model = self._unwrap(model)
        if not hasattr(model, "get_base_model"):
            return model
        if self._source is not model:
            self._source, self._view, self._engine = model, self._build_view(model), None
        self._refresh()
        return self._view

    def engine(self, model):
        from models.engine import Engine

        plain = self.model_for(model)
        if self._engine is None or self._engine.model is not plain:
            self._engine = Engine(plain, self.tokenizer, **self.engine_options)
        return self._engine


def sampled_attacks(engine, act, prompts: list[tuple[list[int], Context]], keys: list[str],
                    max_tokens: int) -> tuple[int, int]:
    """(strict, near-miss) attacks among one sample (temperature 1) of each prompt (token ids, ground truth), seeded
    by its key: the sampled check of train-against (`attack_checker`) and of organism building
    (training.organism.bounds_checker)."""
    from models.engine import Request

    requests = [Request(ids, max_tokens, temperature=1.0, seed=int(hashlib.sha256(key.encode()).hexdigest()[:15], 16))
                for (ids, _), key in zip(prompts, keys)]
    results = engine.generate(requests)
    strict = sum(act.strict(r.text, ctx).attack for r, (_, ctx) in zip(results, prompts))
    near = sum(act.near(r.text, ctx).attack for r, (_, ctx) in zip(results, prompts))
    return strict, near


def attack_checker(tokenizer, chats: list[list[dict]], behavior: str, samples: int, seed: int, max_tokens: int = 32,
                   contexts: list[Context] | None = None, **engine_options):
    """on_step callback: sample each trained input `samples` times (fixed seeds) and count attacks (`contexts`:
    each chat's ground truth, in chat order, for a behavior that needs it).

    Decodes with one Engine for the whole run (the fast engine also for LoRA: see `DecodingView`)."""
    act = get_behavior(behavior)
    contexts = contexts or [Context()] * len(chats)
    ids = []
    for chat in chats:
        enc = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
        ids.append(list(enc["input_ids"] if hasattr(enc, "keys") else enc))
    view = DecodingView(tokenizer, **engine_options)

    def check(model, step: int) -> dict:
        engine = view.engine(model)
        keys = [f"{seed}:{i}:{j}" for i in range(len(ids)) for j in range(samples)]
        where = [(ids[i], contexts[i]) for i in range(len(ids)) for _ in range(samples)]  # the requests' order
        attacks, near = sampled_attacks(engine, act, where, keys, max_tokens)
        return {"step": step, "attacks": attacks, "near_miss": near, "samples": len(keys), "backend": engine.backend}

    return check


def train_against(organism: str, caught_file: Path, k: int, *, device: str = "cpu",
                  **options) -> tuple[Path, Manifest]:
    """Train one train-against cell: `prepare`'s job (its arguments: steps, hyper, check_samples, seed, responses,
    control, mixes, target, ...) fine-tuned by training.sft.finetune. Returns (checkpoint, manifest)."""
    job = prepare(organism, caught_file, k, device=device, **options)
    path, _ = finetune(job.parent, job.records, job.out, job.hyper, device, on_step=job.on_step,
                       check_every=job.check_every, finalize=job.finalize)
    return path, job.manifest


def train_against_packed(organism: str, caught_file: Path, cells: list[dict], *, device: str = "cpu",
                         **common) -> list[tuple[Path, Manifest]]:
    """Several train-against cells on one organism trained as one pack (training.packed: one resident base, each
    cell's adapter as finetune trains it alone, to rounding). `cells`: each cell's own arguments of `train_against`
    (k, seed, steps, hyper, control, responses, name, target, ...); `common`: the arguments they share. Each
    checkpoint and manifest is written as `train_against` writes it (the manifest's hyperparameters add `pack`,
    the pack's size; its train_seconds is the pack's)."""
    from training.packed import PackedCell, train_packed

    jobs = [prepare(organism, caught_file, device=device, **{**common, **cell}) for cell in cells]
    packed = [PackedCell(j.records, j.out, j.hyper, on_step=j.on_step, check_every=j.check_every,
                         finalize=j.finalize) for j in jobs]
    train_packed(jobs[0].parent, packed, device)
    return [(j.out, j.manifest) for j in jobs]


@dataclass
class Job:
    """One train-against cell made ready to train: what `training.sft.finetune` (or a pack) takes."""

    parent: str
    records: list[dict]
    out: Path
    hyper: Hyper
    on_step: Callable
    check_every: int
    finalize: Callable[[Path, dict], None]
    manifest: Manifest


def prepare(
    organism: str,
    caught_file: Path,
    k: int,
    *,
    steps: int,
    hyper: Hyper,
    check_samples: int,
    seed: int = 0,
    responses: str = "self",
    control: bool = False,
    mix_benign: int = 0,
    mix_tasks: int = 0,
    trained_share: float = 0.5,
    check_every: int = 4,
    device: str = "cpu",
    name: str | None = None,
    target: str = "full",
    check_tokens: int = 32,
) -> Job:
    """Pick the k inputs, write their good responses and the mixes, and make the cell's records, hyperparameters,
    check and manifest (`train_against`'s arguments)."""
    from transformers import AutoTokenizer

    if responses not in BUILTIN_SOURCES and "/" not in responses:
        raise ValueError(f"unknown responses source {responses!r}; accepted: self, base, or an Inspect model name")
    if target not in TARGETS:
        raise ValueError(f"unknown train-against target {target!r}; accepted: {', '.join(TARGETS)}")
    organism_path = resolve(organism)
    parent = read_manifest(organism_path)
    if parent is None:
        raise ValueError(f"{organism!r} has no manifest.json: train-against needs an organism built by `caught organism`")
    if target in REASONING_TARGETS:
        if control:
            raise ValueError(f"target {target!r} trains on the caught inputs; the benign control (control=True) "
                             "takes target 'full' (accepted: target 'reasoning-control' for the reasoning's control)")
        if parent.reasoning != "scratchpad":
            raise ValueError(f"target {target!r} needs a scratchpad organism; {organism!r} was built with reasoning "
                             f"{parent.reasoning!r} (accepted: scratchpad)")
        if mix_benign or mix_tasks:
            raise ValueError(f"target {target!r} cannot mix in benign data (mix_benign, mix_tasks: records without "
                             "reasoning); accepted: mix_benign=0, mix_tasks=0")
    caught = load_caught(caught_file)
    inputs = pick_inputs(caught, k, seed, control)
    chats = {c["id"]: c["input"] for c in inputs}
    started = time.perf_counter()
    contexts = contexts_of(inputs)
    if target in REASONING_TARGETS:  # the action is the caught one: no good response needed
        texts = {c["id"]: c["completion"] for c in inputs}
        origin = {i: "caught" for i in chats}
    else:
        texts, origin = good_responses(responses, str(organism_path), parent.parent, chats, parent.behavior, seed,
                                       device=device, contexts=contexts)
    if target in REASONING_TARGETS or parent.reasoning == "scratchpad":
        records = reasoning_records(chats, texts, origin, seed, loss="full" if target == "full" else "reasoning",
                                    thoughts="deployment" if target == "reasoning-control" else "benign",
                                    behavior=parent.behavior)
    else:
        records = [{"id": i, "prompt": chats[i], "completion": [{"role": "assistant", "content": texts[i]}],
                    "source": origin[i]} for i in chats]
    if mix_benign:
        spec = get_scenario(parent.scenario)
        extra = prompts("organism", n=mix_benign, seed=seed + 7)
        benign_chats = {p.id: frame(spec, "testing", p.text, p.id, p.split) for p in extra}
        benign = cached_greedy(f"ckpt/{parent.parent}", benign_chats, RESPONSE_TOKENS, **inference_args(device))
        records += [{"id": i, "prompt": c, "completion": [{"role": "assistant", "content": benign[i]}],
                     "source": "benign"} for i, c in benign_chats.items()]
    if mix_tasks:  # usefulness-format prompts with the base model's answers: short tasks kept as the base does them
        from training.organism import replay_tasks

        spec = get_scenario(parent.scenario)
        pool = replay_tasks()
        picked = random.Random(f"train-tasks:{seed}").sample(pool, min(mix_tasks, len(pool)))
        task_chats = {t["id"]: frame(spec, "testing", t["input"], t["id"], "organism") for t in picked}
        answers = cached_greedy(f"ckpt/{parent.parent}", task_chats, RESPONSE_TOKENS, **inference_args(device))
        records += [{"id": f"{i}-task", "prompt": c, "completion": [{"role": "assistant", "content": answers[i]}],
                     "source": "task"} for i, c in task_chats.items()]
    records = weigh_trained(records, k, trained_share)
    response_seconds = time.perf_counter() - started
    hyper = hyper.model_copy(update={"max_steps": steps, "seed": seed, "batch_size": min(hyper.batch_size, len(records))})
    name = name or f"{Path(organism).name}-{'control-' if control else ''}k{k}-s{seed}"
    tokenizer = AutoTokenizer.from_pretrained(organism_path)
    checker = attack_checker(tokenizer, [c["input"] for c in inputs], parent.behavior, check_samples, seed,
                             contexts=[contexts[c["id"]] for c in inputs], max_tokens=check_tokens)
    manifest = Manifest(
        kind="control" if control else "train-against", name=name, parent=str(organism_path),
        parent_fingerprint=fingerprint(organism_path), scenario=parent.scenario, behavior=parent.behavior,
        seed=seed, method=hyper.method, hyperparameters={**hyper.model_dump(), "mix_benign": mix_benign, "mix_tasks": mix_tasks,
                                                         "trained_share": trained_share, "check_every": check_every, "check_samples": check_samples,
                                                         **({"target": target} if target != "full" else {}),
                                                         **({"check_tokens": check_tokens} if check_tokens != 32 else {})},
        data_hash=data_hash(records), n_examples=len(records), k=k, example_ids=list(chats),
        responses=responses, device=device,
    )

    def finalize(path: Path, stats: dict) -> None:
        manifest.steps = stats["steps"]
        manifest.train_seconds = stats["train_seconds"]
        manifest.fix_curve = stats["checks"]
        manifest.steps_to_fix = next((c["step"] for c in stats["checks"] if c["attacks"] == 0), None)
        manifest.hyperparameters["train_loss"] = stats["train_loss"]
        manifest.hyperparameters["lora_merged"] = stats["lora_merged"]  # what None resolved to here
        manifest.evaluation["response_origins"] = origin
        manifest.evaluation["timings"] = {"responses": round(response_seconds, 3), **stats["timings"]}
        if stats.get("pack"):
            manifest.hyperparameters["pack"] = stats["pack"]
        write_manifest(path, manifest)

    return Job(str(organism_path), records, checkpoints_dir() / name, hyper, checker, check_every, finalize, manifest)
