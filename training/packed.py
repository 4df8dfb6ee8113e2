"""Packed LoRA training: several cells' LoRA adapters trained on one resident base in the same forward and backward
passes, each row of a batch routed to its cell's adapter (models.multilora).

A cell is what `training.sft.finetune` trains on its own: a parent, records, a `Hyper`, an output directory, an
optional `on_step` check and a `finalize`. `train_packed` trains a pack of cells on one parent so that each cell gets
what `finetune` gives it alone, to rounding (tests/test_packed.py): its adapter starts from PEFT's initialisation after
`set_seed(seed)`, as TRL's SFTTrainer makes it; its batches come from the data loader of an SFTTrainer built with
finetune's own config (TRL's tokenisation, the seeded data order, the packing collator); its loss is the mean negative
log-likelihood over its own batch's completion tokens; its optimizer and schedule are the Trainer's (same class,
settings, warmup) over its own parameters, with its gradient norm clipped on its own. Each step concatenates the live
cells' batches (padded to one width), runs one forward and one backward, and sums the cells' losses: a cell's
parameters touch only its rows, so each adapter's gradient is the one its own loss gives. A cell whose `max_steps`
is reached drops out of later batches. Cells may differ in records, seed, steps and batch size; the rest of `Hyper`
must match (LoRA rank and alpha, learning rate, warmup, length, packing, precision "mixed" or "fp32").

Each adapter is written through `training.sft.publish` as a normal PEFT adapter directory on the parent (with its
tokenizer, and whatever `finalize` adds, e.g. the manifest), so `ckpt/`, `hf/` and evaluation read it unchanged.
Checks (`on_step(model, step)`, as finetune calls them: before training, every `check_every` steps, at the end) get a
plain copy of the base holding the cell's merged weights W + s·B·A (one copy for the pack, rewritten per check).
Each cell trains in the LoRA form it would take alone: `lora_merged` (None: on CUDA, off on a CPU, as finetune
resolves it) trains every cell's rows through its own merged weight W + s·B·A (`MultiLoRA.spans`,
training.mergedlora's function), otherwise through base(x) + s·B·A·x with the rows routed per adapter. In fp32 the two
agree to rounding; under bf16 autocast they do not (PEFT's form rounds the base's output and the adapter's apart:
on an H100, 2026-12-07, packed cells in that form ended 0.6-1.9% above the same cells trained alone in the merged
form), so the form is part of what a pack shares with its cells alone. Not carried over from finetune: CUDA graphs,
Liger, compile, gradient checkpointing, full fine-tuning, bf16 weights (each refused with one clear error, or, for
graphs, not used: they replay the same arithmetic).
"""

from __future__ import annotations

import copy
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from training.sft import (
    Hyper,
    OpenEnded,
    _as_dataset,
    _Counting,
    lora_config,
    packed_collator,
    publish,
    sft_config,
    uses_merged_lora,
)

SHARED = ("method", "learning_rate", "max_length", "lora_r", "lora_alpha", "warmup_steps", "packing", "precision",
          "lora_merged")
PRECISIONS = ("mixed", "fp32")


@dataclass
class PackedCell:
    """One cell of a pack: what `training.sft.finetune` takes for it."""

    records: list[dict]
    out: Path
    hyper: Hyper
    on_step: Callable | None = None
    check_every: int = 0
    finalize: Callable[[Path, dict], None] | None = None
    open_ended: bool = False


def pack_refusal(cells: list[PackedCell]) -> str | None:
    """Why `cells` cannot train as one pack (None when they can)."""
    if not cells:
        return "no cells"
    first = cells[0].hyper
    for field in SHARED:
        values = {getattr(c.hyper, field) for c in cells}
        if len(values) > 1:
            return f"the cells differ in {field} ({', '.join(map(str, sorted(values, key=str)))}); a pack shares it"
    reasons = [why for bad, why in [
        (first.method != "lora", f"method={first.method!r} (accepted: lora)"),
        (first.precision not in PRECISIONS, f"precision={first.precision!r} (accepted: {', '.join(PRECISIONS)})"),
        (any(c.hyper.compile for c in cells), "compile=True"),
        (any(c.hyper.liger for c in cells), "liger=True"),
        (any(c.hyper.gradient_checkpointing for c in cells), "gradient_checkpointing=True"),
        (any(c.hyper.cuda_graphs for c in cells), "cuda_graphs=True"),
        (len({str(Path(c.out).resolve()) for c in cells}) < len(cells), "two cells write the same directory"),
    ] if bad]
    return "; ".join(reasons) or None


def cell_bytes(hyper: Hyper, config) -> int:
    """An estimate of one cell's share of a pack step's memory (bytes) on a model of `config`: its batch's tokens
    (at most batch_size x max_length) times their fp32 logits three times over (logits, log-softmax, gradient) and the
    activations kept for the backward (about 24 hidden-size vectors per layer, fp32), plus its adapter with AdamW's
    two moments and gradient, plus, in the merged LoRA form (`lora_merged`, on where it is None: the larger figure is
    the safe one), its merged weights kept for the backward in bf16. An estimate for planning packs, not a
    measurement."""
    tokens = hyper.batch_size * hyper.max_length
    per_token = 4 * (3 * config.vocab_size + 24 * config.num_hidden_layers * config.hidden_size)
    adapter = 4 * 4 * hyper.lora_r * 7 * config.num_hidden_layers * (config.hidden_size + config.intermediate_size)
    merged = 0 if hyper.lora_merged is False else \
        2 * config.num_hidden_layers * (4 * config.hidden_size ** 2 + 3 * config.hidden_size * config.intermediate_size)
    return tokens * per_token + adapter + merged


def plan_packs(n: int, most: int, per_cell: int, budget: int | None) -> list[int]:
    """Pack sizes for n cells: at most `most` cells a pack, and no more than `budget` bytes hold at `per_cell` each
    (a cell that alone exceeds the budget trains alone: the unpacked path would need the same). Sizes as equal as
    they can be, in order."""
    if n < 1:
        return []
    fit = most if budget is None else max(1, min(most, budget // max(1, per_cell)))
    packs = -(-n // fit)
    return [n // packs + (1 if i < n % packs else 0) for i in range(packs)]


def free_bytes(device: str) -> int | None:
    """Memory a pack may use on `device`: 80% of the GPU's free memory; on a CPU 50% of the available memory (None
    where it cannot be read)."""
    import torch

    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(0.8 * free)
    try:
        import psutil

        return int(0.5 * psutil.virtual_memory().available)
    except ImportError:
        return None


def _epochs(loader):
    """The loader's batches, epoch after epoch, with the epoch set as the Trainer sets it (the seeded order)."""
    epoch = 0
    while True:
        for target in (loader, getattr(getattr(loader, "batch_sampler", None), "batch_sampler", None)):
            if hasattr(target, "set_epoch"):
                target.set_epoch(epoch)
        yield from loader
        epoch += 1


def _concat(batches: list[dict], pad_id: int):
    """The cells' batches as one: rows stacked, right-padded to the widest (labels -100; packed rows get a padding run
    of their own position ids, padded rows a zero attention mask). Returns (batch, [(first row, end row)])."""
    import torch

    width = max(b["input_ids"].shape[1] for b in batches)
    out: dict[str, list] = {k: [] for k in batches[0]}
    spans, start = [], 0
    for b in batches:
        n, w = b["input_ids"].shape
        extra = width - w
        for key, value in b.items():
            if extra:
                if key == "position_ids":
                    fill = torch.arange(extra, dtype=value.dtype, device=value.device).expand(n, extra)
                else:  # on the batch's own device (the loaders may already have moved it to the GPU)
                    fill = torch.full((n, extra), {"input_ids": pad_id, "labels": -100}.get(key, 0), dtype=value.dtype,
                                      device=value.device)
                value = torch.cat([value, fill], dim=1)
            out[key].append(value)
        spans.append((start, start + n))
        start += n
    if set(out) != set(batches[-1]):
        raise ValueError("the cells' batches hold different fields; accepted: cells with one collator")
    return {k: torch.cat(v) for k, v in out.items()}, spans


def _lora_init(model, hyper: Hyper) -> tuple[float, dict]:
    """(scaling, {module: (A, B)}): PEFT's LoRA initialisation of `model` after `set_seed(hyper.seed)`, as TRL's
    SFTTrainer makes it; the model is left without the adapter."""
    from peft import get_peft_model
    from peft.tuners.lora import LoraLayer
    from transformers import set_seed

    config = lora_config(hyper)
    set_seed(hyper.seed)
    peft = get_peft_model(model, config)
    weights = {}
    for name, module in peft.named_modules():
        if isinstance(module, LoraLayer):
            weights[name.removeprefix("base_model.model.")] = (module.lora_A["default"].weight.detach().clone(),
                                                               module.lora_B["default"].weight.detach().clone())
    scaling = next(m.scaling["default"] for m in peft.modules() if isinstance(m, LoraLayer))
    if peft.unload() is not model:
        raise RuntimeError("PEFT's unload did not give back the base model")
    return scaling, weights


def _write_merged(view, base_modules: dict, multi, name: str) -> None:
    """Put W + s·B·A of adapter `name` into the plain copy `view` (the base's weights elsewhere)."""
    import torch

    with torch.no_grad():
        for module in multi.modules:
            weight = base_modules[module].weight
            delta = (multi.B[name][module] @ multi.A[name][module]) * multi.scaling[name]
            view.get_submodule(module).weight.copy_((weight.detach().float() + delta.float()).to(weight.dtype))


def train_packed(parent: str, cells: list[PackedCell], device: str) -> list[tuple[Path, dict]]:
    """Train `cells`' LoRA adapters on `parent` together; returns [(out, stats)] in the cells' order (stats as finetune
    returns them, plus `pack`, the pack's size, and `step_losses`; `train_seconds` is the pack's)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, get_scheduler
    from trl import SFTTrainer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from models.multilora import MultiLoRA
    from models.registry import resolve

    refusal = pack_refusal(cells)
    if refusal:
        raise ValueError(f"these cells cannot train as one pack: {refusal}")
    parent_path = resolve(parent)
    cuda = device.startswith("cuda")
    n = len(cells)
    timings: dict[str, float] = {"checks": 0.0}
    tmps = []
    for cell in cells:
        Path(cell.out).parent.mkdir(parents=True, exist_ok=True)
        tmps.append(Path(tempfile.mkdtemp(prefix=f".{Path(cell.out).name}.tmp-", dir=Path(cell.out).parent)))
    multi = None
    try:
        t0 = time.perf_counter()
        model = AutoModelForCausalLM.from_pretrained(parent_path, dtype=torch.float32, use_safetensors=True,
                                                     trust_remote_code=False).to(device)
        tokenizer = AutoTokenizer.from_pretrained(parent_path)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.requires_grad_(False)
        timings["load"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        names = [f"cell{i}" for i in range(n)]
        adapters, loaders, counters, configs, steps = {}, [], [], [], []
        for name, cell, tmp in zip(names, cells, tmps):
            adapters[name] = _lora_init(model, cell.hyper)
            config = sft_config(cell.hyper, tmp / "trainer", tokenizer, cuda)
            collator = packed_collator(cell.hyper, tokenizer) if cell.hyper.packing else \
                DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)
            counting = _Counting(OpenEnded(collator, tokenizer.eos_token_id) if cell.open_ended else collator)
            trainer = SFTTrainer(model=model, args=config, train_dataset=_as_dataset(cell.records, tokenizer),
                                 processing_class=tokenizer, data_collator=counting)
            loader = trainer.get_train_dataloader()
            loaders.append(_epochs(loader))
            counters.append(counting)
            configs.append(config)
            steps.append(config.max_steps if config.max_steps > 0 else math.ceil(config.num_train_epochs * len(loader)))
        checking = any(c.on_step for c in cells)
        view = copy.deepcopy(model).eval() if checking else None  # before the hooks go on
        base_modules = dict(model.named_modules())
        merged = uses_merged_lora(cells[0].hyper, device)
        multi = MultiLoRA(model, adapters, trainable=True, merged=merged)
        optimizers, schedulers = [], []
        for name, config, total in zip(names, configs, steps):
            for p in multi.parameters(name):
                p.requires_grad_(True)
            cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(config, model)
            opt = cls([{"params": multi.parameters(name), "weight_decay": config.weight_decay}], **kwargs)
            optimizers.append(opt)
            schedulers.append(get_scheduler(config.lr_scheduler_type, opt,
                                            num_warmup_steps=config.get_warmup_steps(total), num_training_steps=total,
                                            scheduler_specific_kwargs=config.lr_scheduler_kwargs))
        timings["setup"] = time.perf_counter() - t0
        checks: list[list] = [[] for _ in cells]

        def check(i: int, step: int) -> None:
            start = time.perf_counter()
            _write_merged(view, base_modules, multi, names[i])
            checks[i].append(cells[i].on_step(view, step))
            timings["checks"] += time.perf_counter() - start

        start = time.perf_counter()
        for i, cell in enumerate(cells):
            if cell.on_step:
                check(i, 0)
        autocast = (lambda: torch.autocast(torch.device(device).type, dtype=torch.bfloat16)) \
            if cells[0].hyper.precision == "mixed" else nullcontext
        losses: list[list] = [[] for _ in cells]
        model.train()
        for step in range(max(steps)):
            live = [i for i in range(n) if step < steps[i]]
            batch, spans = _concat([next(loaders[i]) for i in live], tokenizer.pad_token_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            labels = batch.pop("labels")
            routing = multi.spans([(names[i], a, b) for i, (a, b) in zip(live, spans)]) if merged else \
                multi.routed([names[i] for i, (a, b) in zip(live, spans) for _ in range(b - a)])
            with routing, autocast():
                logits = model(**batch, use_cache=False).logits
            target = labels[:, 1:]
            token_nll = torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), target,
                                                          ignore_index=-100, reduction="none")
            total = 0
            for i, (a, b) in zip(live, spans):
                count = (target[a:b] != -100).sum().clamp(min=1)
                loss = token_nll[a:b].sum() / count
                losses[i].append(loss.detach())
                total = total + loss
            total.backward()
            for i in live:
                if configs[i].max_grad_norm and configs[i].max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(multi.parameters(names[i]), configs[i].max_grad_norm)
                optimizers[i].step()
                schedulers[i].step()
                optimizers[i].zero_grad(set_to_none=True)
                done = step + 1
                if cells[i].on_step and (done == steps[i] or (cells[i].check_every and done % cells[i].check_every == 0)):
                    check(i, done)
        seconds = time.perf_counter() - start
        timings["train"] = seconds
        model.eval()
        results = []
        for i, (name, cell, tmp) in enumerate(zip(names, cells, tmps)):
            t0 = time.perf_counter()
            save = tmp / "checkpoint"
            multi.save(name, save, base=parent_path, alpha=cell.hyper.lora_alpha)
            tokenizer.save_pretrained(save)
            step_losses = [float(x) for x in losses[i]]
            stats = {
                "steps": steps[i],
                "train_seconds": round(seconds, 1),
                "train_loss": sum(step_losses) / max(1, len(step_losses)),
                "tokens": counters[i].tokens,
                "checks": checks[i],
                "timings": {k: round(v, 3) for k, v in {**timings, "save": time.perf_counter() - t0}.items()},
                "cuda_graphs": None,
                "lora_merged": merged,
                "pack": n,
                "step_losses": step_losses,
            }
            results.append((publish(save, Path(cell.out), stats, cell.finalize), stats))
        return results
    finally:
        if multi is not None:
            multi.remove()
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
