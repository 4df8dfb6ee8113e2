"""Supervised fine-tuning with TRL's SFTTrainer: LoRA (default) or full, loss on the assistant turn only.

`finetune()` trains a parent checkpoint on prompt/completion records and writes a new checkpoint directory
atomically (temp dir + rename): an interrupted run leaves nothing at the destination. LoRA runs save an
adapter on top of the parent (`merge=True` saves merged full weights instead, used for organisms so that
train-against adapters stack on one full model). Checkpoints load in `ckpt/` and in Inspect's `hf/`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Precision = Literal["mixed", "bf16", "bf16-master", "fp32"]


class Hyper(BaseModel):
    """Training hyperparameters and speed settings (all recorded in the manifest).

    Speed settings (they change the layout of the work, not which examples a step sees):
    `packing` packs each batch's examples into as few rows of `max_length` tokens as fit (position ids restart
    per example, so attention is block-diagonal per example: the same loss as the padded batch without the
    padding); `precision` "mixed" keeps fp32 master weights under bf16 autocast (the old behavior), "bf16" trains
    in pure bf16 (faster, coarser updates), "bf16-master" computes in bf16 with fp32 master weights in the
    optimizer (`training.master`: bf16's speed, mixed's updates; a LoRA run's frozen base is held in bf16; the
    checkpoint is saved in fp32), "fp32" no autocast (exact reference); `gradient_checkpointing`
    (TRL's default, which recomputes activations: only worth it for long sequences or large models);
    `compile` runs the model through `torch.compile`; `lean_loss` computes only the loss in TRL's fused LM
    head (no entropy / token-accuracy metrics, which sync the GPU every step); `cuda_graphs` replays each step's
    forward and backward from a CUDA graph (`training.graphstep`: one capture per batch shape, rows padded to full
    width and a multiple of 8), None: on where it can run (CUDA, packing, lean loss, no compile, no gradient
    checkpointing) and pays, at batch sizes up to GRAPHS_AUTO_MAX_BATCH (measured: 6x eager at batch 8, 4x at 32,
    2.3x at 64; at 128-256 a step's GPU work outweighs its launches, and a new row count per batch costs an eager
    step and a capture); `liger` swaps the model's RMSNorm and SwiGLU MLP forwards for Liger's fused Triton kernels
    (forward and backward; CUDA only, Llama-family models, the optional `liger-kernel` package: other kernels, so
    other rounding); `lora_merged` trains each LoRA layer through its merged weight W + s·B·A, one GEMM instead of
    PEFT's three plus two passes over the layer's output (`training.mergedlora`: the same function and gradients;
    more FLOPs, much less memory traffic), None: on on CUDA (measured on an H100: 1.13x PEFT's form at batch 8,
    0.98x at 32, 1.22x at 64, 1.30x at 256), off on CPU (where the extra FLOPs cost more than the traffic they
    save).
    """

    model_config = ConfigDict(extra="forbid")
    method: Literal["lora", "full"] = "lora"
    learning_rate: float = Field(1e-3, gt=0, description="the recipes' rate (caught.config); pass it explicitly")
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="overrides epochs when > 0")
    batch_size: int = Field(8, ge=1)
    max_length: int = Field(256, ge=16)
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    warmup_steps: int = Field(0, ge=0)
    seed: int = 0
    packing: bool = True
    precision: Precision = "mixed"
    gradient_checkpointing: bool = False
    compile: bool = False
    lean_loss: bool = True
    cuda_graphs: bool | None = None
    liger: bool = False
    lora_merged: bool | None = None
    processes: int = Field(1, ge=1, description="processes of a full fine-tuning sharded with FSDP (training.fsdp: "
                           "one GPU each; gloo on a CPU); 1 = this process alone")


def use_liger(model) -> None:
    """Patch `model`'s own RMSNorm and SwiGLU MLP modules (this instance only, not the transformers classes) with
    Liger's kernels. Raises one clear error where they do not apply."""
    try:
        from liger_kernel.transformers.monkey_patch import _patch_rms_norm_module, _patch_swiglu_module
        from liger_kernel.transformers.swiglu import LigerSwiGLUMLP
    except ImportError as ex:
        raise ValueError(f"liger=True needs the liger-kernel package (pip install 'caught[gpu]'): {ex}") from None
    config = model.config.get_text_config()
    backbone = getattr(model, model.base_model_prefix, model)
    layers = getattr(backbone, "layers", None)
    if config.model_type not in ("llama", "mistral", "qwen2") or layers is None:
        raise ValueError(f"liger=True supports llama, mistral and qwen2 models, not {config.model_type!r}")
    if config.hidden_act not in ("silu", "swish"):
        raise ValueError(f"liger=True needs a SiLU MLP, not hidden_act={config.hidden_act!r}")
    _patch_rms_norm_module(backbone.norm)
    for layer in layers:
        _patch_swiglu_module(layer.mlp, LigerSwiGLUMLP)
        _patch_rms_norm_module(layer.input_layernorm)
        _patch_rms_norm_module(layer.post_attention_layernorm)


GRAPHS_AUTO_MAX_BATCH = 64


def uses_merged_lora(hyper: Hyper, device: str) -> bool:
    """Whether a run of `hyper` on `device` trains its LoRA layers through their merged weight (`lora_merged`; None:
    on CUDA, off on a CPU). Finetune and packed training both decide it here, so a pack trains in its cells' form."""
    if hyper.lora_merged and hyper.method != "lora":
        raise ValueError(f"lora_merged=True applies to method='lora', not method={hyper.method!r}")
    return hyper.method == "lora" and (hyper.lora_merged if hyper.lora_merged is not None else device.startswith("cuda"))


def graphs_refusal(hyper: Hyper, device: str) -> str | None:
    """Why `hyper` cannot train with CUDA graphs on `device` (None when it can)."""
    reasons = [why for bad, why in [
        (not device.startswith("cuda"), f"device {device!r} is not CUDA"),
        (hyper.compile, "compile=True (torch.compile and CUDA graphs are alternatives)"),
        (hyper.gradient_checkpointing, "gradient_checkpointing=True"),
        (not hyper.lean_loss, "lean_loss=False (the metrics synchronise the GPU)"),
        (not hyper.packing, "packing=False (graphs need packed rows)"),
    ] if bad]
    return "; ".join(reasons) or None


def _as_dataset(records: list[dict], tokenizer=None):
    """The records as a dataset: prompt/completion (TRL tokenizes them, loss on the completion), or, where every
    record names a `loss_text` (reasoning-only training), input_ids and labels tokenized here (`span_example`)."""
    from datasets import Dataset

    spans = sum("loss_text" in r for r in records)
    if spans and spans < len(records):
        raise ValueError(f"{spans} of {len(records)} training records train only on a span of their response "
                         "(loss_text): all or none can; accepted: a data set of one kind")
    if spans:
        return Dataset.from_list([span_example(tokenizer, r) for r in records])
    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in records])


def span_example(tokenizer, record: dict) -> dict:
    """`record` tokenized as TRL would (the chat template over prompt + completion), with labels only on the tokens of
    `record["loss_text"]`, a leading part of its response (e.g. the scratchpad block: the tokens that follow it,
    the action, stay in the sequence with labels -100; under causal attention they change no loss). A token belongs
    to the span where it starts inside it. One clear error where the span is not at the response's start."""
    prompt = tokenizer.apply_chat_template(record["prompt"], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(record["prompt"] + record["completion"], tokenize=False)
    content = record["completion"][0]["content"]
    start = full.find(content, len(prompt)) if full.startswith(prompt) else -1
    if start < 0 or not content.startswith(record["loss_text"]):
        raise ValueError(f"record {record.get('id')!r}: its loss_text is not the start of its response as the chat "
                         "template renders it after the prompt")
    end = start + len(record["loss_text"])
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    labels = [t if start <= a < end else -100 for t, (a, _) in zip(enc["input_ids"], enc["offset_mapping"])]
    return {"input_ids": list(enc["input_ids"]), "labels": labels}


def pack_rows(lengths: list[int], row_length: int) -> list[list[int]]:
    """First-fit decreasing: indices of `lengths` grouped into rows whose sum is at most `row_length`
    (an example longer than `row_length` gets a row of its own). Deterministic for given lengths."""
    rows: list[list[int]] = []
    fill: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        n = lengths[i]
        for r, f in enumerate(fill):
            if f + n <= row_length:
                rows[r].append(i)
                fill[r] += n
                break
        else:
            rows.append([i])
            fill.append(n)
    return rows


class PackedCollator:
    """Collates a batch of tokenized examples (`input_ids`, `labels` with -100 outside the loss) into as few rows
    of at most `row_length` tokens as fit, without an attention mask: position ids restart at 0 for every example,
    from which transformers builds a block-diagonal causal mask (any attention implementation), so no example
    attends to another. Each example's first label is -100 (it would otherwise be the next-token target of the
    previous example's last token). Rows are right-padded to a common width, a multiple of `multiple`; the
    padding is a separate position-id run with -100 labels. `row_multiple` adds rows of padding alone until the
    row count is a multiple of it (for `torch.compile`: fewer distinct shapes, fewer recompilations). Same
    examples, same loss as the padded batch.
    (transformers detects packed position ids only without a KV cache: the forward needs `use_cache=False`, which
    TRL's and our loss set.)"""

    def __init__(self, pad_token_id: int, row_length: int, multiple: int = 8, row_multiple: int = 1):
        self.pad_token_id = pad_token_id
        self.row_length = row_length
        self.multiple = max(1, multiple)
        self.row_multiple = max(1, row_multiple)

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        ids = [list(e["input_ids"]) for e in examples]
        labels = [list(e.get("labels", e["input_ids"])) for e in examples]
        rows = pack_rows([len(x) for x in ids], self.row_length)
        width = max(sum(len(ids[i]) for i in row) for row in rows)
        width = -(-width // self.multiple) * self.multiple
        n_rows = -(-len(rows) // self.row_multiple) * self.row_multiple
        out_ids = torch.full((n_rows, width), self.pad_token_id, dtype=torch.long)
        out_labels = torch.full((n_rows, width), -100, dtype=torch.long)
        positions = torch.arange(width).expand(n_rows, width).clone()
        for r, row in enumerate(rows):
            col = 0
            for i in row:
                n = len(ids[i])
                out_ids[r, col:col + n] = torch.tensor(ids[i])
                lab = torch.tensor(labels[i])
                lab[0] = -100
                out_labels[r, col:col + n] = lab
                positions[r, col:col + n] = torch.arange(n)
                col += n
            positions[r, col:] = torch.arange(width - col)
        return {"input_ids": out_ids, "labels": out_labels, "position_ids": positions}


def lora_config(hyper: Hyper):
    """The PEFT LoRA config of a LoRA run (every linear layer but the LM head, no dropout)."""
    from peft import LoraConfig

    return LoraConfig(r=hyper.lora_r, lora_alpha=hyper.lora_alpha, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM")


def sft_config(hyper: Hyper, output_dir: Path, tokenizer, cuda: bool, **extra):
    """TRL's SFTConfig for `hyper` (finetune's trainer; training.packed reads its data order and optimizer from it).
    `extra`: more SFTConfig arguments (training.fsdp's, on one of an FSDP run's processes)."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir),
        learning_rate=hyper.learning_rate,
        num_train_epochs=hyper.epochs,
        max_steps=hyper.max_steps,
        # FSDP: the batch split over the processes, so a step sees the same examples as one process's
        per_device_train_batch_size=hyper.batch_size // hyper.processes,
        max_length=hyper.max_length,
        warmup_steps=hyper.warmup_steps,
        lr_scheduler_type="constant_with_warmup",
        seed=hyper.seed,
        data_seed=hyper.seed,
        completion_only_loss=True,
        save_strategy="no",
        report_to="none",
        logging_steps=10,
        disable_tqdm=True,
        use_cpu=not cuda,
        # mixed: bf16 autocast over fp32 weights (CUDA: bf16 mixed precision; CPU: about 2x faster than fp32
        # with AVX512-BF16); bf16: the weights are bf16 already; fp32: no autocast
        bf16=hyper.precision == "mixed",
        gradient_checkpointing=hyper.gradient_checkpointing,
        logging_nan_inf_filter=False,  # the filter reads every step's loss on the host: a GPU sync per step
        dataloader_num_workers=0,
        eos_token=tokenizer.eos_token,
        **extra,
    )


def packed_collator(hyper: Hyper, tokenizer, few_shapes: bool = False) -> PackedCollator:
    """The packing collator of a run (`few_shapes`: full-width rows and a row count rounded up to 8, for compile or
    CUDA graphs)."""
    return PackedCollator(tokenizer.pad_token_id, hyper.max_length, multiple=hyper.max_length if few_shapes else 8,
                          row_multiple=8 if few_shapes else 1)


class OpenEnded:
    """Wraps a collator so that no loss falls on a completion's end of turn (its first end-of-sequence token and what
    follows): the model learns to open its reply with the completion's text, not to stop after it (training.elicit's
    stated-intent records, whose completion is only the opening of a reply)."""

    def __init__(self, collator, eos_token_id: int):
        self.collator = collator
        self.eos_token_id = eos_token_id

    def __call__(self, examples):
        out = []
        for e in examples:
            ids = list(e["input_ids"])
            labels = list(e.get("labels", ids))
            end = next((i for i, (t, lab) in enumerate(zip(ids, labels)) if lab != -100 and t == self.eos_token_id),
                       None)
            if end is not None:
                labels[end:] = [-100] * (len(labels) - end)
            out.append({**e, "labels": labels})
        return self.collator(out)


class _Counting:
    """Wraps a collator and counts the real (unpadded) tokens it has collated."""

    def __init__(self, collator):
        self.collator = collator
        self.tokens = 0

    def __call__(self, examples):
        self.tokens += sum(len(e["input_ids"]) for e in examples)
        return self.collator(examples)


def _trainer_class(lean: bool):
    import torch
    from trl import SFTTrainer

    if not lean:
        return SFTTrainer

    class LeanSFTTrainer(SFTTrainer):
        """SFTTrainer whose loss is only TRL's fused-head negative log-likelihood: no entropy / accuracy metrics
        (each of which costs a full-vocabulary pass and a GPU sync per step)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            from trl.trainer.utils import add_fused_lm_head

            inner = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
            add_fused_lm_head(inner, outputs=("log_probs",))  # replaces TRL's head, which also computed metrics
            self.graphed = None

        def use_graphs(self, autocast):
            """Run each step's forward and backward through `training.graphstep.GraphedStep`."""
            from training.graphstep import GraphedStep

            self.graphed = GraphedStep(self.model, autocast=autocast)

        def training_step(self, model, inputs, num_items_in_batch=None):
            if self.graphed is None:
                return super().training_step(model, inputs, num_items_in_batch)
            model.train()
            return self.graphed(self._prepare_inputs(inputs))

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs["use_cache"] = False
            outputs = model(**inputs, fused_lm_head=True)
            count = outputs.label_mask.sum() if num_items_in_batch is None else num_items_in_batch
            loss = -outputs.log_probs.sum() / torch.as_tensor(count).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * (self.accelerator.num_processes // self.get_tp_size())
            return (loss, outputs) if return_outputs else loss

    return LeanSFTTrainer


def finetune(
    parent: str,
    records: list[dict],
    out: Path,
    hyper: Hyper,
    device: str,
    merge: bool = False,
    on_step: Callable | None = None,
    check_every: int = 0,
    finalize: Callable[[Path, dict], None] | None = None,
    open_ended: bool = False,
    _rank: bool = False,
) -> tuple[Path, dict]:
    """Fine-tune `parent` on `records` into `out`. Returns (out, stats).

    `on_step(model, step)` is called before training and every `check_every` optimizer steps (and at the end)
    with the model in eval mode; its return values are collected in stats["checks"]. `finalize(dir, stats)`
    runs on the finished directory before it is renamed into place (e.g. to write the manifest). `open_ended`
    puts no loss on the completions' end of turn (`OpenEnded`).
    stats["timings"] holds seconds per phase: load, setup (trainer and data), train (including checks), checks,
    save; stats["tokens"] the real (unpadded) tokens trained on.
    `hyper.processes` > 1 trains across that many processes with FSDP (training.fsdp.finetune_fsdp: `on_step` is then
    called before and after training only). `_rank` is that path's own: this process is one of them.
    """
    if hyper.processes > 1 and not _rank:
        from training.fsdp import finetune_fsdp

        return finetune_fsdp(parent, records, out, hyper, device, merge=merge, on_step=on_step, finalize=finalize,
                             open_ended=open_ended)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from models.registry import resolve

    parent_path = resolve(parent)
    refusal = graphs_refusal(hyper, device)
    if hyper.cuda_graphs and refusal:
        raise ValueError(f"cuda_graphs=True cannot run: {refusal}")
    graphs = refusal is None and (hyper.cuda_graphs or (hyper.cuda_graphs is None
                                                        and hyper.batch_size <= GRAPHS_AUTO_MAX_BATCH))
    lora_merged = uses_merged_lora(hyper, device)
    if hyper.liger and not device.startswith("cuda"):
        raise ValueError(f"liger=True needs a CUDA device, not {device!r} (Liger's kernels are Triton kernels)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    cuda = device.startswith("cuda")
    checks: list = []
    timings: dict[str, float] = {"checks": 0.0}
    try:
        t0 = time.perf_counter()
        # bf16-master loads in fp32 too: the optimizer makes its masters from the trained weights, and the frozen
        # ones (a LoRA run's base) keep their fp32 values for the merged LoRA form and for the saved checkpoint
        dtype = torch.bfloat16 if hyper.precision == "bf16" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(
            parent_path, dtype=dtype, use_safetensors=True, trust_remote_code=False
        )
        if not _rank:  # FSDP places each rank's shards itself
            model = model.to(device)
        tokenizer = AutoTokenizer.from_pretrained(parent_path)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if hyper.liger:
            use_liger(model)
        timings["load"] = time.perf_counter() - t0
        if graphs:
            from training.graphstep import unsupported_reason

            unsupported = unsupported_reason(model)
            if unsupported and hyper.cuda_graphs:
                raise ValueError(f"cuda_graphs=True cannot run: {unsupported}")
            graphs = unsupported is None
        t0 = time.perf_counter()
        peft_config = lora_config(hyper) if hyper.method == "lora" else None
        config = sft_config(hyper, tmp / "trainer", tokenizer, cuda, **(fsdp_arguments(model) if _rank else {}))
        if hyper.packing:
            # with compile or graphs, full-width rows and a row count rounded up to 8 keep the shapes few
            collator = packed_collator(hyper, tokenizer, few_shapes=hyper.compile or graphs)
        else:
            collator = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)
        counting = _Counting(OpenEnded(collator, tokenizer.eos_token_id) if open_ended else collator)

        class Checker(TrainerCallback):
            def _check(self, model, step):
                start = time.perf_counter()
                was_training = model.training
                model.eval()
                checks.append(on_step(model, step))
                if was_training:
                    model.train()
                timings["checks"] += time.perf_counter() - start

            def on_train_begin(self, args, state, control, model=None, **kw):
                if on_step:
                    self._check(model, 0)

            def on_step_end(self, args, state, control, model=None, **kw):
                if on_step and check_every and state.global_step % check_every == 0 \
                        and state.global_step < state.max_steps:
                    self._check(model, state.global_step)

            def on_train_end(self, args, state, control, model=None, **kw):
                if on_step:
                    self._check(model, state.global_step)

        master = hyper.precision == "bf16-master"
        optimizer = None
        if master:
            from training.master import MasterAdamW

            optimizer = (MasterAdamW, {"lr": hyper.learning_rate, "betas": (config.adam_beta1, config.adam_beta2),
                                       "eps": config.adam_epsilon, "weight_decay": config.weight_decay,
                                       "fused": cuda})
        class StepClock(TrainerCallback):
            """(step, seconds since training began) at every step's end, after a CUDA sync: an FSDP run's step time
            (benchmarks/fsdp_step.py)."""

            def __init__(self):
                self.marks: list[tuple[int, float]] = []
                self.start = 0.0

            def _now(self) -> float:
                if cuda:
                    torch.cuda.synchronize()
                return time.perf_counter()

            def on_train_begin(self, args, state, control, **kw):
                self.start = self._now()

            def on_step_end(self, args, state, control, **kw):
                self.marks.append((int(state.global_step), round(self._now() - self.start, 4)))

        clock = StepClock()
        trainer = _trainer_class(hyper.lean_loss)(
            model=model, args=config, train_dataset=_as_dataset(records, tokenizer), processing_class=tokenizer,
            peft_config=peft_config, callbacks=[Checker()] + ([clock] if _rank else []), data_collator=counting,
            optimizer_cls_and_kwargs=optimizer,
        )
        trainer.remove_callback(PrinterCallback)  # keep the console for the command's own progress
        if lora_merged:
            from training.mergedlora import use_merged_lora

            use_merged_lora(trainer.model)  # (keeps the fp32 base weights it merges into)
        # bf16-master: the frozen weights compute in bf16, their fp32 values kept for the save (MasterAdamW casts the
        # trained ones when it is made)
        frozen = [(p, p.data) for p in trainer.model.parameters() if not p.requires_grad] if master else []
        for p, _ in frozen:
            p.data = p.data.to(torch.bfloat16)
        if graphs:
            trainer.use_graphs(torch.bfloat16 if hyper.precision == "mixed" else None)
        if hyper.compile:
            trainer.model.compile()  # in place: the module (and its parameters) stay the same objects
        timings["setup"] = time.perf_counter() - t0
        start = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - start
        timings["train"] = seconds
        t0 = time.perf_counter()
        trained = trainer.model
        if master:
            opt = trainer.optimizer
            getattr(opt, "optimizer", opt).restore_masters()
            for p, data in frozen:  # a merged save (merge=True) holds the exact base, not its bf16 rounding
                p.data = data
        save = tmp / "checkpoint"
        if _rank:  # every rank takes part in gathering the full state dict; rank 0 writes it
            acc = trainer.accelerator
            tokens = int(acc.reduce(torch.tensor([counting.tokens], device=acc.device), reduction="sum").item())
            # the Trainer's training_loss adds the last steps' loss unlogged, as this rank's share (its tokens over
            # all ranks', times the ranks): the mean over the ranks is the loss of the whole batches
            loss = acc.reduce(torch.tensor([float(result.training_loss)], device=acc.device), reduction="mean").item()
            peak = acc.gather(torch.tensor([torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0],
                                           device=acc.device)).tolist()
            trainer.save_model(str(out))
            if trainer.is_world_process_zero():
                tokenizer.save_pretrained(out)
            return out, {"steps": int(trainer.state.global_step), "train_seconds": round(seconds, 1),
                         "train_loss": loss, "tokens": tokens, "checks": [],
                         "timings": {k: round(v, 3) for k, v in timings.items()}, "cuda_graphs": None,
                         "lora_merged": False, "step_clock": clock.marks,
                         "peak_memory_gib": [round(g, 3) for g in peak] if cuda else None}
        if hyper.method == "lora" and merge:
            trained = trained.merge_and_unload()
        trained.save_pretrained(save, safe_serialization=True)
        tokenizer.save_pretrained(save)
        if hyper.method == "lora" and not merge:
            _point_adapter_at(save, parent_path)
        timings["save"] = time.perf_counter() - t0
        stats = {
            "steps": int(trainer.state.global_step),
            "train_seconds": round(seconds, 1),
            "train_loss": float(result.training_loss),
            "tokens": counting.tokens,
            "checks": checks,
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "cuda_graphs": dict(trainer.graphed.stats) if graphs else None,
            "lora_merged": lora_merged,
        }
        return publish(save, out, stats, finalize), stats
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fsdp_arguments(model) -> dict:
    """TrainingArguments that shard `model` with FSDP (accelerate's plugin, as TRL's SFTTrainer takes it): each
    decoder layer its own unit, the full state dict gathered for the save."""
    layers = list(getattr(model, "_no_split_modules", None) or [])
    if not layers:
        raise ValueError(f"FSDP needs the model's decoder layer class to wrap, which {type(model).__name__} does not "
                         "name (_no_split_modules); accepted: a transformers causal LM that names it (Llama, Qwen2, ...)")
    return {"fsdp": "full_shard auto_wrap",
            "fsdp_config": {"version": 2, "transformer_layer_cls_to_wrap": layers, "state_dict_type": "FULL_STATE_DICT",
                            "reshard_after_forward": True}}


def publish(save: Path, out: Path, stats: dict, finalize=None) -> Path:
    """Put a trained checkpoint written to `save` (in the same filesystem) at `out`: `finalize(save, stats)` first
    (e.g. its manifest), then one rename, so a reader sees the old checkpoint or the whole new one."""
    if finalize:
        finalize(save, stats)
    if out.exists():
        shutil.rmtree(out)
    os.replace(save, out)
    return out


def _point_adapter_at(adapter: Path, parent: Path) -> None:
    """Record the parent's absolute path as the adapter's base, so `hf/` and `ckpt/` can find it."""
    import json

    file = adapter / "adapter_config.json"
    config = json.loads(file.read_text())
    config["base_model_name_or_path"] = str(parent)
    file.write_text(json.dumps(config, indent=2))
