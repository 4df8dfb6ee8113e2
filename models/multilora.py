"""Several LoRA adapters on one resident base model, each row of a batch routed to its own adapter.

A row routed to adapter a gets, at every adapted linear layer, y = base(x) + s_a·B_a·A_a·x; a row routed to no
adapter gets the base alone. The base's output is computed once for the whole batch; the adapters' deltas come
from two thin GEMMs over the adapters' concatenated matrices, whatever the number of adapters:
u = x·[A_1; ...; A_n]ᵀ, then u is multiplied by a per-row mask that holds s_a on the row's adapter's block and 0
elsewhere, and y += u·[B_1 ... B_n]ᵀ. No shape depends on which rows go where (one route is one small tensor), so
the same step serves any mix of adapters. A row without an adapter adds exact zeros: its output is the base's bit
for bit. Against PEFT's own mixed batch (`adapter_names=`, which loops over the adapters and indexes their rows)
the outputs agree to rounding (tests/test_multilora.py): the scaling is applied before B here, after it in PEFT.

`MultiLoRA.load(model, {name: adapter_dir})` reads PEFT LoRA adapters (what `caught train-against` saves);
`MultiLoRA(model, adapters, trainable=True)` makes trainable ones (packed training: training.packed);
`save(name, dir, base, alpha)` writes one as a PEFT
adapter directory that `PeftModel.from_pretrained`, `ckpt/` and `hf/` load. `routed(names)` (one entry per row,
None for the base) routes a forward pass; `select(rows)` follows a batch that drops rows (models.engine's hf loop).
Hooks go on the model's own nn.Linear modules: PEFT's layers are not involved, the model stays a plain model.

`spans([(name, start, stop), ...])` is the merged form for packed training (`merged=True`): a batch whose rows come in
one contiguous block per adapter, each block computed through its adapter's merged weight, y = x·(W + s·B·A)ᵀ
(`MergedWeight`, the function and gradients `training.mergedlora` trains through). This is what `training.sft.finetune` trains through on CUDA
(`lora_merged`), and under bf16 autocast it rounds differently from base(x) + s·B·A·x (measured on SmolLM2, 12 steps:
mean loss 2.763 merged, 2.793 in PEFT's form, fp32 2.751), so a pack trains as its cells would alone only in the form
they would use alone. It costs one GEMM per adapter and layer (each adapter's block reads its own merged weight)
instead of one base GEMM and two thin ones for the whole batch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def read_adapter(path: Path) -> tuple[float, dict[str, tuple[torch.Tensor, torch.Tensor]], dict]:
    """(scaling, {module name: (A [r, in], B [out, r])}, config) of the PEFT LoRA adapter at `path`. One clear error
    for an adapter that is more than plain LoRA on linear layers."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / ADAPTER_CONFIG).is_file() or not (path / ADAPTER_WEIGHTS).is_file():
        raise ValueError(f"{str(path)!r} is not a LoRA adapter directory (needs {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS})")
    config = json.loads((path / ADAPTER_CONFIG).read_text())
    refusals = [why for bad, why in [
        (config.get("peft_type", "LORA") != "LORA", f"peft_type {config.get('peft_type')!r} (accepted: LORA)"),
        (config.get("use_dora"), "use_dora=true"),
        (config.get("modules_to_save"), "modules_to_save"),
        (config.get("trainable_token_indices"), "trainable tokens"),
        (config.get("rank_pattern") or config.get("alpha_pattern"), "per-layer rank or alpha patterns"),
        (config.get("lora_bias"), "a LoRA bias"),
        (config.get("fan_in_fan_out"), "fan_in_fan_out"),
    ] if bad]
    if refusals:
        raise ValueError(f"adapter {str(path)!r} cannot be routed per row: {'; '.join(refusals)}; accepted: plain "
                         "LoRA on linear layers")
    r, alpha = int(config["r"]), float(config["lora_alpha"])
    scaling = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
    state = load_file(str(path / ADAPTER_WEIGHTS))
    weights: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        stem, _, tail = key.rpartition(".lora_")
        if tail not in ("A.weight", "B.weight"):
            raise ValueError(f"adapter {str(path)!r} holds {key!r}, which is not a LoRA A/B weight")
        weights.setdefault(stem.removeprefix("base_model.model."), {})[tail[0]] = value
    return scaling, {m: (w["A"], w["B"]) for m, w in weights.items()}, config


class MergedWeight(torch.autograd.Function):
    """training.mergedlora's merged weight (here, below training, so that packed training's `spans` uses the same
    function): (W + s·B·A) formed in fp32 and returned in the compute dtype; the adapter's gradients come from the merged
    weight's gradient G (in the compute dtype, as the GEMM wrote it) through two thin GEMMs in that dtype:
    dA = s·Bᵀ·G, dB = s·G·Aᵀ. (Through autograd they ran in fp32 on an upcast G, two thin fp32 GEMMs per layer:
    that version trained at 0.83x PEFT's form at batch 8 on an H100, this one at 1.13x.)"""

    @staticmethod
    def forward(ctx, base, lora_a, lora_b, scaling, dtype):
        ctx.save_for_backward(lora_a, lora_b)
        ctx.scaling = scaling
        with torch.autocast(base.device.type, enabled=False):  # (autocast would run addmm in bf16)
            return torch.addmm(base.float(), lora_b.float(), lora_a.float(), alpha=scaling).to(dtype)

    @staticmethod
    def backward(ctx, grad):
        lora_a, lora_b = ctx.saved_tensors
        grad_a = torch.mm(lora_b.to(grad.dtype).t(), grad).mul_(ctx.scaling)
        grad_b = torch.mm(grad, lora_a.to(grad.dtype).t()).mul_(ctx.scaling)
        return None, grad_a.to(lora_a.dtype), grad_b.to(lora_b.dtype), None, None


class MultiLoRA:
    """Named LoRA adapters hooked onto one plain causal LM; which adapter each row uses is set per forward pass.

    `trainable`: the adapters' A and B are parameters (`parameters(name)`), concatenated at each forward (packed
    training); otherwise the concatenations are made once. `remove()` takes the hooks off the model."""

    def __init__(self, model, adapters: dict[str, tuple[float, dict[str, tuple[torch.Tensor, torch.Tensor]]]],
                 trainable: bool = False, merged: bool = False):
        if not adapters:
            raise ValueError("MultiLoRA needs at least one adapter")
        self.model = model
        self.names = list(adapters)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.scaling = {n: s for n, (s, _) in adapters.items()}
        self.trainable = trainable
        modules = dict(model.named_modules())
        device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
        self.modules = sorted({m for _, weights in adapters.values() for m in weights})
        for name, (_, weights) in adapters.items():
            missing = [m for m in weights if not isinstance(modules.get(m), torch.nn.Linear)]
            if missing:
                raise ValueError(f"adapter {name!r} adapts {missing[0]!r}, which is not a linear layer of the model")
            if set(weights) != set(self.modules):
                raise ValueError(f"adapter {name!r} adapts other layers than adapter {self.names[0]!r}; accepted: "
                                 "adapters on the same layers")
        # A[name][module], B[name][module]: parameters when trainable
        wrap = (lambda t: torch.nn.Parameter(t.detach().to(device, dtype).clone())) if trainable else \
            (lambda t: t.detach().to(device, dtype))
        self.A = {n: {m: wrap(w[m][0]) for m in self.modules} for n, (_, w) in adapters.items()}
        self.B = {n: {m: wrap(w[m][1]) for m in self.modules} for n, (_, w) in adapters.items()}
        self.ranks = {n: int(next(iter(self.A[n].values())).shape[0]) for n in self.names}
        self.offsets, start = {}, 0
        for n in self.names:
            self.offsets[n] = (start, start + self.ranks[n])
            start += self.ranks[n]
        self.width = start
        self._cat = None if trainable else {m: self._concat(m) for m in self.modules}
        self._mask: torch.Tensor | None = None
        self._spans: list[tuple[str, int, int]] | None = None
        self._handles = [modules[m].register_forward_hook(self._hook(m)) for m in self.modules]
        self._patched = []
        if merged:
            for m in self.modules:
                linear = modules[m]
                # the base weight the merged form adds to, in fp32 where the model holds it so (as training.mergedlora
                # keeps it): an adapter's product smaller than half a bf16 step would vanish in a bf16 base
                linear.forward = self._merged_forward(m, linear, linear.weight.detach())
                self._patched.append(linear)

    # ---- making adapters ----------------------------------------------------------------------------------------
    @classmethod
    def load(cls, model, paths: dict[str, Path]) -> MultiLoRA:
        """The PEFT LoRA adapters at `paths` ({name: directory}), on `model` (their base)."""
        adapters = {}
        for name, path in paths.items():
            scaling, weights, _ = read_adapter(path)
            adapters[name] = (scaling, weights)
        return cls(model, adapters)

    def matrices(self, module: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The adapters' concatenated (A [width, in], B [out, width]) at `module`, in the order of `names` (what a
        route's blocks index; the fast engine's routed step reads them)."""
        return self._cat[module] if self._cat is not None else self._concat(module)

    def parameters(self, name: str) -> list[torch.Tensor]:
        return [t for m in self.modules for t in (self.A[name][m], self.B[name][m])]

    def state_dict(self, name: str) -> dict[str, torch.Tensor]:
        """Adapter `name` under PEFT's saved key names."""
        out = {}
        for m in self.modules:
            out[f"base_model.model.{m}.lora_A.weight"] = self.A[name][m].detach().float().cpu().contiguous()
            out[f"base_model.model.{m}.lora_B.weight"] = self.B[name][m].detach().float().cpu().contiguous()
        return out

    def save(self, name: str, directory: Path, base: Path | str, alpha: int) -> Path:
        """Write adapter `name` as a PEFT LoRA adapter directory on `base` (its config's base_model_name_or_path)."""
        from peft import LoraConfig
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        short = sorted({m.rsplit(".", 1)[-1] for m in self.modules})
        config = LoraConfig(r=self.ranks[name], lora_alpha=alpha, lora_dropout=0.0, target_modules=short,
                            task_type="CAUSAL_LM", base_model_name_or_path=str(base))
        if not math.isclose(alpha / self.ranks[name], self.scaling[name]):
            raise ValueError(f"alpha={alpha} does not give adapter {name!r}'s scaling {self.scaling[name]}")
        config.save_pretrained(str(directory))
        save_file(self.state_dict(name), str(directory / ADAPTER_WEIGHTS), metadata={"format": "pt"})
        return directory

    # ---- routing ------------------------------------------------------------------------------------------------
    def mask(self, rows: Sequence[str | None]) -> torch.Tensor:
        """The [rows, width] scaling mask for one adapter name (or None: the base) per row."""
        self._known((r for r in rows if r is not None), base=True)
        device = next(iter(self.A[self.names[0]].values())).device
        mask = torch.zeros(len(rows), self.width)
        for i, r in enumerate(rows):
            if r is not None:
                a, b = self.offsets[r]
                mask[i, a:b] = self.scaling[r]
        return mask.to(device)

    def _known(self, names, base: bool = False) -> None:
        """One clear error for the first adapter name (in sorted order) this MultiLoRA does not hold."""
        bad = sorted({n for n in names if n not in self.index})
        if bad:
            raise ValueError(f"unknown adapter {bad[0]!r}; accepted: {', '.join(self.names)}"
                             + (" (or none: the base)" if base else ""))

    @contextmanager
    def routed(self, rows: Sequence[str | None] | torch.Tensor):
        """Within the block, forward passes route row i to adapter rows[i] (a [rows, width] mask is taken as is)."""
        previous = self._mask
        self._mask = rows if isinstance(rows, torch.Tensor) else self.mask(rows)
        try:
            yield self
        finally:
            self._mask = previous

    def select(self, rows: torch.Tensor) -> None:
        """Keep only rows `rows` of the current route (the batch dropped the others)."""
        if self._mask is not None:
            self._mask = self._mask[rows.to(self._mask.device)]

    @property
    def active(self) -> bool:
        return self._mask is not None

    @contextmanager
    def spans(self, blocks: Sequence[tuple[str, int, int]]):
        """Within the block, forward passes compute rows start:stop through adapter name's merged weight, for each
        (name, start, stop) of `blocks`, which must cover the batch's rows in order (needs `merged=True`)."""
        if not self._patched:
            raise ValueError("spans() needs a MultiLoRA made with merged=True")
        if not blocks:
            raise ValueError("spans() needs at least one (name, start, stop) block")
        self._known(n for n, _, _ in blocks)
        ends = [0] + [stop for _, _, stop in blocks]
        if [start for _, start, _ in blocks] != ends[:-1] or any(b <= a for _, a, b in blocks):
            raise ValueError(f"spans {[(a, b) for _, a, b in blocks]} do not cover the rows from 0 in order, each "
                             "non-empty")
        previous, self._spans = self._spans, list(blocks)
        try:
            yield self
        finally:
            self._spans = previous

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        for linear in self._patched:
            del linear.forward  # the class's forward again
        self._patched = []

    def _merged_forward(self, module: str, linear: torch.nn.Linear, base: torch.Tensor):
        plain = linear.forward

        def forward(x: torch.Tensor) -> torch.Tensor:
            blocks = self._spans
            if blocks is None:
                return plain(x)
            if blocks[-1][2] != x.shape[0]:
                raise RuntimeError(f"the spans cover {blocks[-1][2]} rows, the batch has {x.shape[0]}")
            device = x.device.type
            dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
            return torch.cat([F.linear(x[a:b], MergedWeight.apply(base, self.A[n][module], self.B[n][module],
                                                                   self.scaling[n], dtype), linear.bias)
                              for n, a, b in blocks])

        return forward

    def _concat(self, module: str) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.cat([self.A[n][module] for n in self.names], dim=0)  # [width, in]
        b = torch.cat([self.B[n][module] for n in self.names], dim=1)  # [out, width]
        return a, b

    def _hook(self, module: str):
        def hook(_mod, args, out):
            mask = self._mask
            if mask is None:
                return out
            x = args[0]
            a, b = self.matrices(module)
            u = F.linear(x, a)
            if mask.shape[0] != u.shape[0]:
                raise RuntimeError(f"the route has {mask.shape[0]} rows, the batch {u.shape[0]}")
            u = u * mask.view(mask.shape[0], *([1] * (u.dim() - 2)), mask.shape[1]).to(u.dtype)
            return out + F.linear(u, b)

        hook.__name__ = "multilora_route"  # models.fastdecode.support: the fast engine routes these adapters itself
        return hook
